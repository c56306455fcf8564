//! Charts drawn on the server as SVG (filled in by the charts work).
