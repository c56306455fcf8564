//! The sync's decisions, pure: what a claimed job needs
//! ([`plan`]: nothing more, a new tracked entity with its enrollment, or
//! only an enrollment of the tracked entity found with the same UIC), what
//! DHIS-2's import report means for it ([`verdict`]), and when a job
//! stopped by the network or a 5xx is tried again ([`retry_at`]).
//!
//! The worker (`worker`) does the I/O around these.

use super::Decision;
use super::settings::Role;
use super::store::{Claimed, Verdict};
use time::{Duration, OffsetDateTime};

/// Collision code kept on a job held for a supervisor.
pub const HELD_COLLISION: &str = "collision";
/// DHIS-2's non-unique attribute value: another tracked entity has this
/// UIC (reference C.4).
pub const E_NON_UNIQUE: &str = "E1064";
/// Already enrolled in the program / only one enrollment allowed.
const E_ALREADY_ENROLLED: [&str; 2] = ["E1015", "E1016"];
/// Skipped because an object it depends on failed.
const E_SKIPPED: &str = "E5000";

/// A tracked entity DHIS-2 already has with a job's UIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub tracked_entity: String,
    /// Its enrollment in the number's program, if any.
    pub enrollment: Option<String>,
}

/// What a job needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to send: the verdict is known.
    Decided(Verdict),
    /// A new tracked entity (the job's UID) with its enrollment.
    Create { org_unit: String },
    /// An enrollment of the tracked entity found.
    Enroll {
        tracked_entity: String,
        org_unit: String,
    },
}

/// What a job needs, from its registration, what the search found and the
/// org unit its city goes to (`None`: the settings name none for it).
pub fn plan(job: &Claimed, found: Option<&Found>, org_unit: Option<String>, lang_fr: bool) -> Step {
    let decision = job.collision_decision.as_deref().and_then(Decision::parse);
    if decision == Some(Decision::DifferentPeople) {
        return Step::Decided(Verdict::Held {
            code: Decision::DifferentPeople.as_str().into(),
            message: text(
                lang_fr,
                "Personnes différentes avec un même code : non envoyé à DHIS-2.",
                "Different people with one code: not sent to DHIS-2.",
            ),
            flag: false,
        });
    }
    if job.collision_status == "open" {
        return Step::Decided(Verdict::Held {
            code: HELD_COLLISION.into(),
            message: text(
                lang_fr,
                "Code enregistré depuis plusieurs téléphones : en attente de la décision d'un superviseur.",
                "Code registered from several phones: waiting for a supervisor's decision.",
            ),
            flag: false,
        });
    }
    let Some(org_unit) = org_unit else {
        return Step::Decided(Verdict::Failed {
            code: "org_unit".into(),
            message: text(
                lang_fr,
                &format!(
                    "Aucune unité d'organisation pour le code de ville {} : ajoutez-la aux réglages DHIS-2 du numéro.",
                    job.city
                ),
                &format!(
                    "No org unit for city code {}: add it to the number's DHIS-2 settings.",
                    job.city
                ),
            ),
        });
    };
    match found {
        Some(f) => match &f.enrollment {
            Some(enrollment) => Step::Decided(Verdict::Synced {
                tracked_entity: f.tracked_entity.clone(),
                enrollment: enrollment.clone(),
                linked: f.tracked_entity != job.tracked_entity,
            }),
            None => Step::Enroll {
                tracked_entity: f.tracked_entity.clone(),
                org_unit,
            },
        },
        None => Step::Create { org_unit },
    }
}

fn text(fr: bool, french: &str, english: &str) -> String {
    if fr { french } else { english }.to_string()
}

/// The value each attribute role gets from a registration.
pub fn value(job: &Claimed, role: Role) -> String {
    match role {
        Role::Uic => job.uic.clone(),
        Role::LastName => job.last_part.clone(),
        Role::FirstName => job.first_part.clone(),
        Role::BirthYear => job.year_digit.to_string(),
        Role::City => job.city.clone(),
        Role::Gender => job.gender.to_string(),
    }
}

/// One error of an import report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue<'a> {
    pub code: &'a str,
    pub message: &'a str,
    /// The object it is about.
    pub uid: Option<&'a str>,
}

/// Whether a report's error is about this job's objects (its tracked
/// entity when it creates one, its enrollment).
pub fn concerns(job: &Claimed, step: &Step, issue: &Issue<'_>) -> bool {
    let Some(uid) = issue.uid else {
        return false;
    };
    match step {
        Step::Decided(_) => false,
        Step::Create { .. } => uid == job.tracked_entity || uid == job.enrollment,
        Step::Enroll { .. } => uid == job.enrollment,
    }
}

/// A sent job's verdict from the import report's errors. `report_failed`:
/// the report's status is ERROR; `report_message`: its message (an import
/// aborted as a whole names no object).
pub fn verdict(
    job: &Claimed,
    step: &Step,
    issues: &[Issue<'_>],
    report_failed: bool,
    report_message: Option<&str>,
) -> Verdict {
    let (tracked_entity, linked) = match step {
        Step::Decided(v) => return v.clone(),
        Step::Create { .. } => (job.tracked_entity.clone(), false),
        Step::Enroll { tracked_entity, .. } => (
            tracked_entity.clone(),
            *tracked_entity != job.tracked_entity,
        ),
    };
    let mine: Vec<&Issue<'_>> = issues
        .iter()
        .filter(|i| {
            i.uid
                .is_some_and(|u| u == job.enrollment || u == tracked_entity)
        })
        .collect();
    // The cause first: a skipped enrollment (E5000) follows its tracked
    // entity's error.
    let cause = mine
        .iter()
        .find(|i| i.code != E_SKIPPED)
        .or_else(|| mine.first());
    match cause {
        Some(i) if i.code == E_NON_UNIQUE => Verdict::Held {
            code: i.code.to_string(),
            message: i.message.to_string(),
            flag: true,
        },
        Some(i) if E_ALREADY_ENROLLED.contains(&i.code) => Verdict::Synced {
            tracked_entity,
            enrollment: job.enrollment.clone(),
            linked,
        },
        Some(i) => Verdict::Failed {
            code: i.code.to_string(),
            message: i.message.to_string(),
        },
        None if report_failed && issues.is_empty() => Verdict::Failed {
            code: "import".into(),
            message: report_message
                .unwrap_or("DHIS-2 refused the import without naming an object")
                .to_string(),
        },
        None => Verdict::Synced {
            tracked_entity,
            enrollment: job.enrollment.clone(),
            linked,
        },
    }
}

/// The first retry waits this long, each next one twice as long...
const FIRST_RETRY: Duration = Duration::seconds(5);
/// ...up to this: a job is tried again for as long as it takes.
const LONGEST_RETRY: Duration = Duration::minutes(30);

/// When a job stopped by the network, a 5xx or refused credentials is
/// tried again, after `attempts` attempts (at least 1), with `jitter` in
/// 0..1 spreading the retries of many jobs (up to a fifth more).
pub fn retry_at(attempts: i32, now: OffsetDateTime, jitter: f64) -> OffsetDateTime {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let wait = FIRST_RETRY
        .checked_mul(1 << doublings.min(15))
        .unwrap_or(LONGEST_RETRY)
        .min(LONGEST_RETRY);
    now + wait + wait * (jitter.clamp(0.0, 1.0) * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Claimed {
        Claimed {
            id: 1,
            tenant_id: 1,
            account_id: 2,
            registration_id: 3,
            attempts: 1,
            tracked_entity: "Kj6vYde4LHh".into(),
            enrollment: "MNWZ6hnuhSw".into(),
            uic: "MBEIBR7DA1".into(),
            last_part: "MBE".into(),
            first_part: "IBR".into(),
            year_digit: 7,
            city: "DA".into(),
            gender: 1,
            first_seen_at: OffsetDateTime::UNIX_EPOCH,
            collision_status: "none".into(),
            collision_decision: None,
        }
    }

    fn ou() -> Option<String> {
        Some("DiszpKrYNg8".into())
    }

    #[test]
    fn a_new_code_creates_a_tracked_entity_and_a_found_one_is_linked() {
        assert_eq!(
            plan(&job(), None, ou(), true),
            Step::Create {
                org_unit: "DiszpKrYNg8".into()
            }
        );
        let found = Found {
            tracked_entity: "Gjaiu3ea38E".into(),
            enrollment: None,
        };
        assert_eq!(
            plan(&job(), Some(&found), ou(), true),
            Step::Enroll {
                tracked_entity: "Gjaiu3ea38E".into(),
                org_unit: "DiszpKrYNg8".into()
            }
        );
        let enrolled = Found {
            enrollment: Some("Xa1b2c3d4e5".into()),
            ..found
        };
        assert_eq!(
            plan(&job(), Some(&enrolled), ou(), true),
            Step::Decided(Verdict::Synced {
                tracked_entity: "Gjaiu3ea38E".into(),
                enrollment: "Xa1b2c3d4e5".into(),
                linked: true
            })
        );
        // Our own record found again (a retry after a lost answer): not
        // "linked".
        let ours = Found {
            tracked_entity: "Kj6vYde4LHh".into(),
            enrollment: Some("MNWZ6hnuhSw".into()),
        };
        assert!(matches!(
            plan(&job(), Some(&ours), ou(), true),
            Step::Decided(Verdict::Synced { linked: false, .. })
        ));
    }

    #[test]
    fn a_collision_is_held_until_decided_and_different_people_stay_held() {
        let open = Claimed {
            collision_status: "open".into(),
            ..job()
        };
        assert!(matches!(
            plan(&open, None, ou(), true),
            Step::Decided(Verdict::Held { ref code, flag: false, .. }) if code == HELD_COLLISION
        ));
        let same = Claimed {
            collision_status: "reviewed".into(),
            collision_decision: Some("same_person".into()),
            ..job()
        };
        assert!(matches!(plan(&same, None, ou(), true), Step::Create { .. }));
        let different = Claimed {
            collision_status: "reviewed".into(),
            collision_decision: Some("different_people".into()),
            ..job()
        };
        assert!(matches!(
            plan(&different, None, ou(), true),
            Step::Decided(Verdict::Held { ref code, .. }) if code == "different_people"
        ));
    }

    #[test]
    fn no_org_unit_for_the_city_fails_with_the_city_named() {
        let Step::Decided(Verdict::Failed { code, message }) = plan(&job(), None, None, true)
        else {
            panic!("expected a failure");
        };
        assert_eq!(code, "org_unit");
        assert!(message.contains("DA"), "{message}");
    }

    #[test]
    fn the_report_gives_each_job_its_own_verdict() {
        let create = Step::Create {
            org_unit: "DiszpKrYNg8".into(),
        };
        assert!(matches!(
            verdict(&job(), &create, &[], false, None),
            Verdict::Synced { ref tracked_entity, linked: false, .. } if tracked_entity == "Kj6vYde4LHh"
        ));
        // Another object's error is not this job's.
        let other = [Issue {
            code: "E1041",
            message: "not assigned",
            uid: Some("Zz1111111111"),
        }];
        assert!(matches!(
            verdict(&job(), &create, &other, true, None),
            Verdict::Synced { .. }
        ));
        // The tracked entity's error is the cause, not the skipped enrollment.
        let issues = [
            Issue {
                code: "E5000",
                message: "skipped",
                uid: Some("MNWZ6hnuhSw"),
            },
            Issue {
                code: "E1041",
                message: "Org unit not assigned",
                uid: Some("Kj6vYde4LHh"),
            },
        ];
        assert_eq!(
            verdict(&job(), &create, &issues, true, None),
            Verdict::Failed {
                code: "E1041".into(),
                message: "Org unit not assigned".into()
            }
        );
        let dup = [Issue {
            code: "E1064",
            message: "Non-unique attribute value",
            uid: Some("Kj6vYde4LHh"),
        }];
        assert!(matches!(
            verdict(&job(), &create, &dup, true, None),
            Verdict::Held { flag: true, .. }
        ));
        let enroll = Step::Enroll {
            tracked_entity: "Gjaiu3ea38E".into(),
            org_unit: "DiszpKrYNg8".into(),
        };
        let already = [Issue {
            code: "E1015",
            message: "already enrolled",
            uid: Some("MNWZ6hnuhSw"),
        }];
        assert!(matches!(
            verdict(&job(), &enroll, &already, true, None),
            Verdict::Synced { linked: true, .. }
        ));
        // An import refused as a whole, naming nothing.
        assert_eq!(
            verdict(&job(), &create, &[], true, Some("aborted")),
            Verdict::Failed {
                code: "import".into(),
                message: "aborted".into()
            }
        );
    }

    #[test]
    fn retries_wait_longer_each_time_up_to_half_an_hour() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(retry_at(1, now, 0.0) - now, Duration::seconds(5));
        assert_eq!(retry_at(2, now, 0.0) - now, Duration::seconds(10));
        assert_eq!(retry_at(4, now, 0.0) - now, Duration::seconds(40));
        assert_eq!(retry_at(30, now, 0.0) - now, Duration::minutes(30));
        assert_eq!(retry_at(i32::MAX, now, 0.0) - now, Duration::minutes(30));
        assert_eq!(retry_at(0, now, 0.0) - now, Duration::seconds(5));
        assert_eq!(retry_at(1, now, 1.0) - now, Duration::seconds(6));
        assert_eq!(retry_at(1, now, 7.0) - now, Duration::seconds(6));
    }

    #[test]
    fn each_role_gets_its_part_of_the_code() {
        let j = job();
        let got: Vec<String> = Role::ALL.iter().map(|r| value(&j, *r)).collect();
        assert_eq!(got, ["MBEIBR7DA1", "MBE", "IBR", "7", "DA", "1"]);
    }
}
