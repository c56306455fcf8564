//! A fake DHIS-2 (Tracker API 2.38–2.41), written from the wire reference
//! (section C of the external APIs reference), not from our own client: a
//! real HTTP server on a random port with Basic and `ApiToken` auth,
//! `/api/system/{info,id}`, the metadata the program check reads, the
//! tracker importer `POST /api/tracker` (sync and async, with a validation
//! subset), its jobs, the tracked entity search and potential duplicates,
//! all behind a version knob (`Version`); plus failure injection (latency,
//! 5xx, a server that drops connections) and inspection of what it holds.
//!
//! Choices where the reference leaves room:
//! - The standard setup (`start_standard`): the UIC (unique, mandatory) and
//!   gender (optional) are attributes of the Person TE type, so they sit on
//!   the tracked entity; last name, first name, birth year (mandatory) and
//!   birth city (optional) are program attributes, sent on the enrollment.
//!   Every attribute is TEXT; value types, option sets (E1007, E1085,
//!   E1125) and TextPattern checks are not modelled (C.6: the importer
//!   does not check patterns either).
//! - Auth: every endpoint needs it. A `d2pat_` token is checked for its
//!   shape (`d2pat_` + 32 Base64 characters + 10 digits) but its CRC32 is
//!   not recomputed. 401 messages: no header → "Full authentication is
//!   required…", bad Basic → "Bad credentials", unknown or expired token.
//! - Failure injection comes before auth, as a proxy in front would:
//!   `fail_next` answers 500 with DHIS-2's JSON error, and 502/503/504… with
//!   an nginx HTML page. `set_down(true)` reads each request then drops the
//!   connection without an answer (the client sees a closed connection; a
//!   refused connection was not chosen because the port must stay ours).
//!   `set_latency` delays every answer, failures included.
//! - `/api/system/id`: a `limit` below 1 or not a number counts as 1.
//! - Metadata endpoints return every field C.2 lists whatever `fields=`
//!   asks; attribute references carry `id`, `unique`, `generated`,
//!   `valueType`. Event programs have no `trackedEntityType`.
//! - One capture scope (`set_capture_scope`, default: everything) for every
//!   credential. An org unit unknown to the fake is E1049 (tracked entity) /
//!   E1070 (enrollment), the codes DHIS-2 uses; a known one outside the
//!   scope is E1000. ACCESSIBLE and CAPTURE searches use the same scope.
//! - Import: every object is validated (FULL) and all its errors are
//!   reported; `validationMode`/`reportMode` are checked for their values
//!   only, the report is always complete, no `timingsStats`, never
//!   WARNING. Missing `trackedEntityType`/`orgUnit` on a TE is E1121,
//!   missing `trackedEntity`/`program`/`orgUnit` on an enrollment E1122.
//!   UPDATE/DELETE of an unknown TE is E1063, of an unknown enrollment
//!   E1081. An enrollment status other than ACTIVE/COMPLETED/CANCELLED, a
//!   body that is not a JSON object and a bad enum parameter (including
//!   `importMode=VALIDATION`) are 400 for the whole request. Events and
//!   relationships are not modelled (ignored).
//! - Unique values (E1064) compare exactly as stored (no case folding, no
//!   trimming), against stored people (not the TE itself) and, within one
//!   payload, against values of objects accepted before: the second holder
//!   is the one reported. `orgunitScope` compares the TEs' org units.
//!   Program attribute values count as the person's values (DHIS-2 keeps
//!   them on the tracked entity), for uniqueness, filters and E1018 (a
//!   mandatory program attribute may come from the TE's own attributes).
//! - E1016 (`onlyEnrollOnce`) wins over E1015 and counts enrollments of any
//!   status; E1015 is only for a new ACTIVE enrollment. An attribute on a TE
//!   that is not a TE-type attribute is accepted (as for a TE enrolled in a
//!   program having it); on an enrollment, a non-program attribute is E1019.
//! - Reports: `bundleReport` is present only when something was committed
//!   (absent after an ALL failure and for VALIDATE); `objectReports` list
//!   the committed objects. With errors and nothing written every object is
//!   counted `ignored`; a clean VALIDATE counts nothing. Updates replace the
//!   sent attributes (`null` deletes one) and the org unit; the TE type is
//!   kept.
//! - Async jobs run when polled: `/api/tracker/jobs/{id}` answers "not
//!   completed" `set_job_polls(n)` times (default 0), then imports and adds
//!   the completed notification on top. An unknown or forgotten job
//!   answers `[]` (DHIS-2's notifier has nothing); its report is 404.
//! - Search: with org units and no mode, SELECTED on every version. Before
//!   2.41 ALL/ACCESSIBLE/CAPTURE with org units ignore the org units; on
//!   2.41 that is a 400, as is SELECTED/CHILDREN/DESCENDANTS without org
//!   units. `trackedEntity` (≤ 2.40) / `trackedEntities` (2.41) list UIDs;
//!   the "one of program, trackedEntityType, trackedEntities" rule applies
//!   on every version. Unknown program, TE type, org unit or filter
//!   attribute → 400. Filters: a value that is absent never matches;
//!   GT/GE/LT/LE compare numbers when both sides are numbers; before 2.40 a
//!   `:` in a value breaks the filter (400). Program membership, org unit
//!   modes and scope use the TE's org unit (no program ownership). Answers
//!   carry every enrollment; attributes are the TE type's plus, with
//!   `program`, the program's. `skipPaging=true` (or `paging=false` on
//!   2.41) drops the paging fields; `totalPages=true` adds `total`.
//!   `GET …/trackedEntities/{uid}` is 404 outside the capture scope.
//! - Potential duplicates: the same wrapper (`pager` + `potentialDuplicates`)
//!   on every version; `teis`/`trackedEntities` match either side of a pair
//!   and are comma-separated; a pair is a repeat whichever way round; every
//!   user may merge (the merge authority is not modelled); a merge answers
//!   200 with a `WebMessage`; AUTO conflicts are 409.

mod duplicates;
mod metadata;
mod search;
mod self_tests;
mod server;
mod state;
mod tracker;

pub use metadata::*;
pub use server::FakeDhis2;
pub use state::*;
