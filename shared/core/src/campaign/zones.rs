//! A lead's time zone from its number when the lead gives none: for the North American
//! Numbering Plan (`+1`) by area code, from a committed table; elsewhere by country
//! calling code, for countries that keep one zone (a country spanning several gives
//! none: the lead must say).

use chrono_tz::Tz;

use crate::ids::E164;

/// `zone code code …` per line; `#` starts a comment line.
const NANP: &str = include_str!("nanp_zones.txt");

/// Calling codes of countries with one zone, longest codes first where they share digits.
const COUNTRIES: &[(&str, &str)] = &[
    ("30", "Europe/Athens"),
    ("31", "Europe/Amsterdam"),
    ("32", "Europe/Brussels"),
    ("33", "Europe/Paris"),
    ("34", "Europe/Madrid"),
    ("351", "Europe/Lisbon"),
    ("353", "Europe/Dublin"),
    ("358", "Europe/Helsinki"),
    ("36", "Europe/Budapest"),
    ("39", "Europe/Rome"),
    ("40", "Europe/Bucharest"),
    ("41", "Europe/Zurich"),
    ("43", "Europe/Vienna"),
    ("44", "Europe/London"),
    ("45", "Europe/Copenhagen"),
    ("46", "Europe/Stockholm"),
    ("47", "Europe/Oslo"),
    ("48", "Europe/Warsaw"),
    ("49", "Europe/Berlin"),
    ("420", "Europe/Prague"),
    ("27", "Africa/Johannesburg"),
    ("20", "Africa/Cairo"),
    ("234", "Africa/Lagos"),
    ("254", "Africa/Nairobi"),
    ("91", "Asia/Kolkata"),
    ("81", "Asia/Tokyo"),
    ("82", "Asia/Seoul"),
    ("86", "Asia/Shanghai"),
    ("852", "Asia/Hong_Kong"),
    ("65", "Asia/Singapore"),
    ("63", "Asia/Manila"),
    ("66", "Asia/Bangkok"),
    ("971", "Asia/Dubai"),
    ("972", "Asia/Jerusalem"),
    ("64", "Pacific/Auckland"),
    ("54", "America/Argentina/Buenos_Aires"),
    ("56", "America/Santiago"),
    ("57", "America/Bogota"),
    ("51", "America/Lima"),
];

/// The zone inferred from `phone`, if its country or area code tells.
pub fn zone_of(phone: &E164) -> Option<Tz> {
    let digits = phone.as_str().trim_start_matches('+');
    if let Some(national) = digits.strip_prefix('1') {
        let area = national.get(..3)?;
        return nanp_zone(area);
    }
    COUNTRIES
        .iter()
        .filter(|(code, _)| digits.starts_with(code))
        .max_by_key(|(code, _)| code.len())
        .and_then(|(_, zone)| zone.parse().ok())
}

fn nanp_zone(area: &str) -> Option<Tz> {
    NANP.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let mut words = line.split_whitespace();
            let zone = words.next()?;
            words.any(|code| code == area).then_some(zone)
        })
        .and_then(|zone| zone.parse().ok())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn zone(s: &str) -> Option<Tz> {
        zone_of(&E164::parse(s).expect("phone"))
    }

    #[test]
    fn nanp_numbers_take_their_area_codes_zone() {
        assert_eq!(zone("+12125550100"), Some(chrono_tz::America::New_York));
        assert_eq!(zone("+13125550100"), Some(chrono_tz::America::Chicago));
        assert_eq!(zone("+14155550100"), Some(chrono_tz::America::Los_Angeles));
        assert_eq!(zone("+16025550100"), Some(chrono_tz::America::Phoenix));
        assert_eq!(zone("+14165550100"), Some(chrono_tz::America::Toronto));
        assert_eq!(zone("+18085550100"), Some(chrono_tz::Pacific::Honolulu));
        // Not an area code in use.
        assert_eq!(zone("+19995550100"), None);
    }

    #[test]
    fn other_countries_by_calling_code_longest_first() {
        assert_eq!(zone("+442071838750"), Some(chrono_tz::Europe::London));
        assert_eq!(zone("+353123456789"), Some(chrono_tz::Europe::Dublin));
        assert_eq!(zone("+33123456789"), Some(chrono_tz::Europe::Paris));
        // Several zones (Russia, Brazil, Australia…): the lead must say.
        assert_eq!(zone("+61212345678"), None);
        assert_eq!(zone("+5511912345678"), None);
    }

    #[test]
    fn every_zone_in_the_table_exists_and_no_area_code_is_listed_twice() {
        let mut seen = HashSet::new();
        for line in NANP
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut words = line.split_whitespace();
            let zone = words.next().expect("zone");
            assert!(zone.parse::<Tz>().is_ok(), "{zone}");
            for code in words {
                assert!(
                    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()),
                    "{code}"
                );
                assert!(seen.insert(code), "{code} twice");
            }
        }
        for (_, zone) in COUNTRIES {
            assert!(zone.parse::<Tz>().is_ok(), "{zone}");
        }
    }
}
