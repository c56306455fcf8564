//! A WhatsApp number's access token over its life: how it stands (good,
//! expiring, expired, refused), and when its administrators must be warned
//! (14, 7, 3 and 1 days before it expires). Pure rules: time is an
//! argument, nothing in this file reads the clock or the database (its
//! storage is `store`, one check with Meta `check`, the daily watch
//! `watch`, the `token` commands `command`).

pub mod check;
pub mod command;
pub mod store;
pub mod watch;

use time::{Duration, OffsetDateTime};

/// Days before expiry at which the administrators are warned, largest
/// first. Each is given once per token.
pub const WARN_DAYS: [i64; 4] = [14, 7, 3, 1];

/// How a token stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Never checked with the provider.
    Unchecked,
    /// Checked, and it expires in more than the first warning's days, or
    /// never.
    Good,
    /// It expires within `WARN_DAYS[0]` days: whole days left (0 on its
    /// last day).
    Expiring { days_left: i64 },
    /// Past its expiry.
    Expired,
    /// The provider refused it (Graph error 190 while sending, or
    /// `debug_token` said it is not valid).
    Refused,
}

impl Standing {
    /// Whether the number cannot send with it (its outbox is held).
    pub fn blocks_sending(self) -> bool {
        matches!(self, Standing::Expired | Standing::Refused)
    }

    /// Whether an administrator must act (a banner on every page).
    pub fn needs_action(self) -> bool {
        !matches!(self, Standing::Good | Standing::Unchecked)
    }
}

/// What is known of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// `None`: it never expires (a system user's token).
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last checked with the provider, if ever.
    pub validated_at: Option<OffsetDateTime>,
    /// The provider refused it since.
    pub refused: bool,
}

/// Whole days from `now` to `at` (0 within the last day; negative once
/// past).
pub fn days_left(at: OffsetDateTime, now: OffsetDateTime) -> i64 {
    let left = at - now;
    if left.is_negative() {
        // Past: -1 during the first day after, and so on.
        -((-left).whole_days() + 1)
    } else {
        left.whole_days()
    }
}

/// How the token stands at `now`.
/// An expired token is said to be expired even when Meta refused it (the
/// more precise reason).
pub fn standing(t: &Known, now: OffsetDateTime) -> Standing {
    match t.expires_at {
        Some(at) if at <= now => Standing::Expired,
        _ if t.refused => Standing::Refused,
        _ if t.validated_at.is_none() => Standing::Unchecked,
        Some(at) if at - now <= Duration::days(WARN_DAYS[0]) => Standing::Expiring {
            days_left: days_left(at, now),
        },
        _ => Standing::Good,
    }
}

/// The warning due at `now` (its number of days), if one is: the smallest
/// of `WARN_DAYS` reached that is below the last one given for this token
/// (`last_warned`). A token first seen 2 days before its expiry gets the
/// 3-day warning only, not 14, 7 and 3 at once. None once it has expired
/// (that is an incident of its own) or if it never expires.
pub fn warning_due(
    expires_at: Option<OffsetDateTime>,
    last_warned: Option<i64>,
    now: OffsetDateTime,
) -> Option<i64> {
    let at = expires_at?;
    if at <= now {
        return None;
    }
    let left = at - now;
    let reached = WARN_DAYS
        .iter()
        .copied()
        .filter(|d| left <= Duration::days(*d))
        .min()?;
    match last_warned {
        Some(given) if given <= reached => None,
        _ => Some(reached),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-01 10:00 UTC);

    fn known(expires_in: Option<Duration>) -> Known {
        Known {
            expires_at: expires_in.map(|d| NOW + d),
            validated_at: Some(NOW - Duration::hours(1)),
            refused: false,
        }
    }

    #[test]
    fn a_token_stands_by_its_expiry_and_what_the_provider_said() {
        assert_eq!(standing(&known(None), NOW), Standing::Good);
        assert_eq!(
            standing(&known(Some(Duration::days(60))), NOW),
            Standing::Good
        );
        assert_eq!(
            standing(&known(Some(Duration::days(14))), NOW),
            Standing::Expiring { days_left: 14 }
        );
        assert_eq!(
            standing(&known(Some(Duration::hours(30))), NOW),
            Standing::Expiring { days_left: 1 }
        );
        assert_eq!(
            standing(&known(Some(Duration::hours(5))), NOW),
            Standing::Expiring { days_left: 0 }
        );
        assert_eq!(
            standing(&known(Some(Duration::ZERO)), NOW),
            Standing::Expired
        );
        assert_eq!(
            standing(&known(Some(-Duration::days(3))), NOW),
            Standing::Expired
        );
        let refused = Known {
            refused: true,
            ..known(None)
        };
        assert_eq!(standing(&refused, NOW), Standing::Refused);
        let refused_expired = Known {
            refused: true,
            ..known(Some(-Duration::hours(1)))
        };
        assert_eq!(standing(&refused_expired, NOW), Standing::Expired);
        let unchecked = Known {
            validated_at: None,
            ..known(Some(Duration::days(3)))
        };
        assert_eq!(standing(&unchecked, NOW), Standing::Unchecked);
        // Expired is known without asking anyone.
        let unchecked_expired = Known {
            validated_at: None,
            ..known(Some(-Duration::days(1)))
        };
        assert_eq!(standing(&unchecked_expired, NOW), Standing::Expired);
        assert!(Standing::Expired.blocks_sending() && Standing::Refused.blocks_sending());
        assert!(!Standing::Expiring { days_left: 1 }.blocks_sending());
        assert!(Standing::Expiring { days_left: 9 }.needs_action());
        assert!(!Standing::Good.needs_action() && !Standing::Unchecked.needs_action());
    }

    #[test]
    fn days_left_counts_whole_days_and_goes_negative_once_past() {
        assert_eq!(days_left(NOW + Duration::hours(47), NOW), 1);
        assert_eq!(days_left(NOW + Duration::hours(48), NOW), 2);
        assert_eq!(days_left(NOW, NOW), 0);
        assert_eq!(days_left(NOW - Duration::hours(1), NOW), -1);
        assert_eq!(days_left(NOW - Duration::hours(25), NOW), -2);
    }

    #[test]
    fn each_warning_is_given_once_and_a_late_start_skips_to_the_one_reached() {
        let at = Some(NOW + Duration::days(60));
        assert_eq!(warning_due(at, None, NOW), None);
        assert_eq!(warning_due(None, None, NOW), None, "never expires");
        // Walk the token to its expiry an hour at a time: the warnings come
        // in order, each once.
        let expires = NOW + Duration::days(20);
        let mut given = None;
        let mut seen = Vec::new();
        let mut t = NOW;
        while t < expires + Duration::days(1) {
            if let Some(d) = warning_due(Some(expires), given, t) {
                seen.push((d, expires - t));
                given = Some(d);
            }
            t += Duration::hours(1);
        }
        let days: Vec<i64> = seen.iter().map(|(d, _)| *d).collect();
        assert_eq!(days, WARN_DAYS.to_vec());
        for (d, left) in seen {
            assert!(left <= Duration::days(d) && left > Duration::days(d) - Duration::hours(1));
        }
        // First seen two days before: the 3-day warning, then 1.
        let soon = Some(NOW + Duration::days(2));
        assert_eq!(warning_due(soon, None, NOW), Some(3));
        assert_eq!(warning_due(soon, Some(3), NOW), None);
        assert_eq!(warning_due(soon, Some(3), NOW + Duration::days(1)), Some(1));
        // Expired: no warning (an incident instead).
        assert_eq!(warning_due(Some(NOW), None, NOW), None);
    }

    proptest! {
        #[test]
        fn a_warning_is_never_repeated_nor_larger_than_the_last(
            left_h in 0i64..(40 * 24),
            last in prop::option::of(prop::sample::select(WARN_DAYS.to_vec())),
        ) {
            let at = NOW + Duration::hours(left_h);
            if let Some(d) = warning_due(Some(at), last, NOW) {
                prop_assert!(WARN_DAYS.contains(&d));
                prop_assert!(at - NOW <= Duration::days(d));
                if let Some(l) = last {
                    prop_assert!(d < l);
                }
                prop_assert_eq!(warning_due(Some(at), Some(d), NOW), None);
            }
        }
    }
}
