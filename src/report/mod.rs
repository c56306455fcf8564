//! The programme reports (issue 15): how many codes each number gave, how
//! people go through the bot's questions, how the staff queue is kept,
//! and how DHIS-2 keeps up; drawn as SVG on the server (`chart`).

pub mod chart;
