use super::*;
use proptest::prelude::*;

const YEAR: i32 = 2025;

fn kinshasa_list() -> Vec<City> {
    vec![
        City {
            code: "KN".into(),
            name: "Kinshasa".into(),
        },
        City {
            code: "MM".into(),
            name: "Mbuji-Mayi".into(),
        },
        City {
            code: "LU".into(),
            name: "Lubumbashi".into(),
        },
        City {
            code: "KG".into(),
            name: "Kisangani".into(),
        },
    ]
}

/// The format, checked by hand one character class at a time.
fn matches_format(code: &str) -> bool {
    let c: Vec<char> = code.chars().collect();
    c.len() == 10
        && c[..6].iter().all(char::is_ascii_uppercase)
        && c[6].is_ascii_digit()
        && c[7..9].iter().all(char::is_ascii_uppercase)
        && ('1'..='4').contains(&c[9])
}

fn parts(last: &str, first: &str, y: u8, city: &str, g: Gender) -> UicParts {
    UicParts {
        last: last.into(),
        first: first.into(),
        year_digit: y,
        city: city.into(),
        gender: g,
    }
}

// ---- the example ----

#[test]
fn the_design_example_gives_mbeibr7da1() {
    let p = UicParts {
        last: name_code("Mbengue").unwrap(),
        first: name_code("Ibrahima").unwrap(),
        year_digit: year_digit("1997", YEAR).unwrap(),
        city: city_code("DA", &[]).unwrap(),
        gender: gender("Homme").unwrap(),
    };
    assert_eq!(Uic::from_parts(&p).as_str(), "MBEIBR7DA1");
}

#[test]
fn the_prototype_answers_give_the_same_code_as_the_full_answers() {
    let short = UicParts {
        last: name_code("MBE").unwrap(),
        first: name_code("IBR").unwrap(),
        year_digit: year_digit("7", YEAR).unwrap(),
        city: city_code("DA", &[]).unwrap(),
        gender: gender("1").unwrap(),
    };
    let long = UicParts {
        last: name_code("Mbengue").unwrap(),
        first: name_code("Ibrahima").unwrap(),
        year_digit: year_digit("1997", YEAR).unwrap(),
        city: city_code("da", &[]).unwrap(),
        gender: gender("homme").unwrap(),
    };
    assert_eq!(Uic::from_parts(&short), Uic::from_parts(&long));
}

// ---- letters ----

#[test]
fn letters_strips_accents_after_nfkd() {
    assert_eq!(letters("É"), "E");
    assert_eq!(letters("Ç"), "C");
    assert_eq!(letters("Ñ"), "N");
    assert_eq!(letters("élodie"), "ELODIE");
    assert_eq!(letters("Ngɔ̀ndɛ́"), "NGONDE");
}

#[test]
fn letters_maps_lingala_open_vowels_instead_of_deleting_them() {
    assert_eq!(letters("ɛ"), "E");
    assert_eq!(letters("Ɛ"), "E");
    assert_eq!(letters("ɔ"), "O");
    assert_eq!(letters("Ɔ"), "O");
    assert_eq!(letters("Mbɔ́ka"), "MBOKA");
}

#[test]
fn letters_folds_letters_that_nfkd_does_not_decompose() {
    assert_eq!(letters("Øø"), "OO");
    assert_eq!(letters("Ææ"), "AEAE");
    assert_eq!(letters("Œœ"), "OEOE");
    assert_eq!(letters("ßẞ"), "SSSS");
    assert_eq!(letters("Łł"), "LL");
    assert_eq!(letters("Đđ"), "DD");
    assert_eq!(letters("Ŋŋ"), "NN");
    assert_eq!(letters("Ɓɗƙƴ"), "BDKY");
    assert_eq!(letters("ı"), "I");
}

#[test]
fn letters_uppercases_ascii() {
    assert_eq!(letters("mbengue"), "MBENGUE");
}

#[test]
fn letters_skips_spaces_hyphens_apostrophes_and_digits() {
    assert_eq!(letters(" N'Diaye "), "NDIAYE");
    assert_eq!(letters("N’Diaye"), "NDIAYE");
    assert_eq!(letters("Kabila-Kabange"), "KABILAKABANGE");
    assert_eq!(letters("a1b2c3!?.,;"), "ABC");
}

#[test]
fn letters_skips_letters_of_other_scripts() {
    assert_eq!(letters("محمد"), "");
    assert_eq!(letters("Иван"), "");
    assert_eq!(letters("李Li"), "LI");
}

#[test]
fn letters_reads_compatibility_forms_as_ascii() {
    assert_eq!(letters("ＡＢ"), "AB");
    assert_eq!(letters("ﬁ"), "FI");
}

// ---- name_code ----

#[test]
fn name_code_takes_the_first_three_letters_of_a_whole_name() {
    assert_eq!(name_code("Mbengue").unwrap(), "MBE");
    assert_eq!(name_code("Ibrahima").unwrap(), "IBR");
}

#[test]
fn name_code_skips_apostrophes() {
    assert_eq!(name_code("N'Diaye").unwrap(), "NDI");
    assert_eq!(name_code("N’Diaye").unwrap(), "NDI");
}

#[test]
fn name_code_skips_hyphens() {
    assert_eq!(name_code("Kabila-Kabange").unwrap(), "KAB");
    assert_eq!(name_code("N-D").unwrap(), "NDX");
}

#[test]
fn name_code_ignores_surrounding_spaces_and_accents() {
    assert_eq!(name_code("  élodie ").unwrap(), "ELO");
}

#[test]
fn name_code_maps_lingala_letters() {
    assert_eq!(name_code("Ɛkɔ").unwrap(), "EKO");
}

#[test]
fn name_code_pads_short_names_with_x() {
    assert_eq!(name_code("Ba").unwrap(), "BAX");
    assert_eq!(name_code("O").unwrap(), "OXX");
}

#[test]
fn name_code_accepts_the_three_letters_themselves() {
    assert_eq!(name_code("mbe").unwrap(), "MBE");
}

#[test]
fn name_code_without_any_letter_is_no_letters() {
    for input in ["", "   ", "123", "???", "محمد", "-'’"] {
        assert_eq!(name_code(input), Err(AnswerError::NoLetters), "{input:?}");
    }
}

// ---- year_digit ----

#[test]
fn year_digit_accepts_a_single_digit() {
    assert_eq!(year_digit("7", YEAR), Ok(7));
    assert_eq!(year_digit("0", YEAR), Ok(0));
    assert_eq!(year_digit(" 3 ", YEAR), Ok(3));
}

#[test]
fn year_digit_accepts_a_whole_year() {
    assert_eq!(year_digit("1997", YEAR), Ok(7));
    assert_eq!(year_digit("2000", YEAR), Ok(0));
}

#[test]
fn year_digit_takes_the_last_digit_of_two_digits() {
    assert_eq!(year_digit("97", YEAR), Ok(7));
    assert_eq!(year_digit("05", YEAR), Ok(5));
}

#[test]
fn year_digit_accepts_text_around_one_number() {
    assert_eq!(year_digit("né en 1997", YEAR), Ok(7));
    assert_eq!(year_digit("1997.", YEAR), Ok(7));
    assert_eq!(year_digit("en '97", YEAR), Ok(7));
}

#[test]
fn year_digit_accepts_the_bounds_of_the_range() {
    assert_eq!(year_digit("1900", YEAR), Ok(0));
    assert_eq!(year_digit("2025", YEAR), Ok(5));
}

#[test]
fn year_digit_rejects_four_digit_years_out_of_range() {
    assert_eq!(year_digit("1899", YEAR), Err(AnswerError::YearOutOfRange));
    assert_eq!(year_digit("2026", YEAR), Err(AnswerError::YearOutOfRange));
    assert_eq!(year_digit("9999", YEAR), Err(AnswerError::YearOutOfRange));
    assert_eq!(year_digit("0097", YEAR), Err(AnswerError::YearOutOfRange));
}

#[test]
fn year_digit_without_digit_is_no_year() {
    for input in ["", "   ", "quatre-vingt-dix-sept", "je ne sais pas"] {
        assert_eq!(
            year_digit(input, YEAR),
            Err(AnswerError::NoYear),
            "{input:?}"
        );
    }
}

#[test]
fn year_digit_with_several_numbers_is_ambiguous() {
    for input in ["19 97", "1997 2001", "1997-2001", "12/03/1997", "7 ou 8"] {
        assert_eq!(
            year_digit(input, YEAR),
            Err(AnswerError::AmbiguousYear),
            "{input:?}"
        );
    }
}

#[test]
fn year_digit_with_three_or_five_plus_digits_is_ambiguous() {
    for input in ["197", "19977", "123456789012345678901234567890"] {
        assert_eq!(
            year_digit(input, YEAR),
            Err(AnswerError::AmbiguousYear),
            "{input:?}"
        );
    }
}

#[test]
fn year_digit_does_not_panic_on_a_huge_number() {
    let huge = "9".repeat(100_000);
    assert_eq!(year_digit(&huge, YEAR), Err(AnswerError::AmbiguousYear));
}

// ---- city_code ----

#[test]
fn city_code_accepts_a_two_letter_code_in_any_form() {
    for input in ["DA", "da", "Da", "D.A.", " d a "] {
        assert_eq!(city_code(input, &[]).as_deref(), Ok("DA"), "{input:?}");
    }
}

#[test]
fn city_code_maps_a_listed_city_name_in_any_case() {
    let list = kinshasa_list();
    for input in ["Kinshasa", "kinshasa", "KINSHASA", " Kinshasa. "] {
        assert_eq!(city_code(input, &list).as_deref(), Ok("KN"), "{input:?}");
    }
}

#[test]
fn city_code_maps_a_listed_city_name_with_spaces_hyphens_or_accents() {
    let list = kinshasa_list();
    for input in ["Mbuji-Mayi", "Mbuji Mayi", "mbujimayi", "Mbují-Máyi"] {
        assert_eq!(city_code(input, &list).as_deref(), Ok("MM"), "{input:?}");
    }
}

#[test]
fn city_code_matches_list_names_written_with_accents() {
    let list = vec![City {
        code: "BE".into(),
        name: "Béni".into(),
    }];
    assert_eq!(city_code("beni", &list).as_deref(), Ok("BE"));
}

#[test]
fn city_code_accepts_a_code_not_in_the_list() {
    assert_eq!(city_code("DA", &kinshasa_list()).as_deref(), Ok("DA"));
}

#[test]
fn city_code_accepts_code_and_name_together_in_either_order() {
    let list = kinshasa_list();
    assert_eq!(city_code("KN - Kinshasa", &list).as_deref(), Ok("KN"));
    assert_eq!(city_code("Kinshasa (KN)", &list).as_deref(), Ok("KN"));
}

#[test]
fn city_code_rejects_a_code_that_contradicts_the_name() {
    assert_eq!(
        city_code("LU - Kinshasa", &kinshasa_list()),
        Err(AnswerError::UnknownCity)
    );
}

#[test]
fn city_code_rejects_an_unlisted_city_name() {
    assert_eq!(
        city_code("Goma", &kinshasa_list()),
        Err(AnswerError::UnknownCity)
    );
    assert_eq!(
        city_code("Kin", &kinshasa_list()),
        Err(AnswerError::UnknownCity)
    );
}

#[test]
fn city_code_without_a_list_never_guesses_a_code_from_a_name() {
    assert_eq!(city_code("Dakar", &[]), Err(AnswerError::UnknownCity));
    assert_eq!(city_code("Kinshasa", &[]), Err(AnswerError::UnknownCity));
}

#[test]
fn city_code_without_letters_or_with_one_letter_is_unknown() {
    for input in ["", "  ", "42", "D", "?"] {
        assert_eq!(
            city_code(input, &kinshasa_list()),
            Err(AnswerError::UnknownCity),
            "{input:?}"
        );
    }
}

#[test]
fn city_code_ignores_list_entries_with_a_malformed_code() {
    let list = vec![City {
        code: "KIN".into(),
        name: "Kinshasa".into(),
    }];
    assert_eq!(city_code("Kinshasa", &list), Err(AnswerError::UnknownCity));
}

#[test]
fn city_code_returns_the_list_code_uppercased() {
    let list = vec![City {
        code: "kn".into(),
        name: "Kinshasa".into(),
    }];
    assert_eq!(city_code("Kinshasa", &list).as_deref(), Ok("KN"));
}

// ---- gender ----

#[test]
fn gender_accepts_the_digits_one_to_four() {
    assert_eq!(gender("1"), Ok(Gender::Homme));
    assert_eq!(gender("2"), Ok(Gender::Femme));
    assert_eq!(gender("3"), Ok(Gender::Trans));
    assert_eq!(gender("4"), Ok(Gender::Autre));
}

#[test]
fn gender_accepts_a_digit_with_spaces_or_its_label() {
    assert_eq!(gender(" 2 "), Ok(Gender::Femme));
    assert_eq!(gender("1 = Homme"), Ok(Gender::Homme));
    assert_eq!(gender("4 - Autre"), Ok(Gender::Autre));
    assert_eq!(gender("1."), Ok(Gender::Homme));
}

#[test]
fn gender_accepts_words_for_homme() {
    for input in [
        "homme", "HOMME", "h", "H", "m", "masculin", "male", "mâle", "man",
    ] {
        assert_eq!(gender(input), Ok(Gender::Homme), "{input:?}");
    }
}

#[test]
fn gender_accepts_words_for_femme() {
    for input in [
        "femme", "Femme", "f", "F", "feminin", "féminin", "FÉMININ", "female", "woman",
    ] {
        assert_eq!(gender(input), Ok(Gender::Femme), "{input:?}");
    }
}

#[test]
fn gender_accepts_words_for_trans() {
    for input in ["trans", "T", "transgenre", "Trans-genre"] {
        assert_eq!(gender(input), Ok(Gender::Trans), "{input:?}");
    }
}

#[test]
fn gender_accepts_words_for_autre() {
    for input in ["autre", "A", "other", "o", "Autre."] {
        assert_eq!(gender(input), Ok(Gender::Autre), "{input:?}");
    }
}

#[test]
fn gender_accepts_agreeing_synonyms_together() {
    assert_eq!(gender("Homme (male)"), Ok(Gender::Homme));
}

#[test]
fn gender_rejects_other_digits_and_empty_answers() {
    for input in ["5", "0", "", "   ", "12", "9"] {
        assert_eq!(gender(input), Err(AnswerError::UnknownGender), "{input:?}");
    }
}

#[test]
fn gender_rejects_contradictions_and_unknown_words() {
    for input in [
        "1 = Femme",
        "homme ou femme",
        "femme trans",
        "je suis un homme",
        "bonjour",
        "hommes",
    ] {
        assert_eq!(gender(input), Err(AnswerError::UnknownGender), "{input:?}");
    }
}

#[test]
fn gender_digit_and_from_digit_agree() {
    for g in [Gender::Homme, Gender::Femme, Gender::Trans, Gender::Autre] {
        assert_eq!(Gender::from_digit(g.digit()), Some(g));
    }
    assert_eq!(Gender::from_digit(0), None);
    assert_eq!(Gender::from_digit(5), None);
}

// ---- Uic ----

#[test]
fn parse_accepts_an_exact_code() {
    assert_eq!(Uic::parse("MBEIBR7DA1").unwrap().as_str(), "MBEIBR7DA1");
}

#[test]
fn parse_accepts_lower_case_and_surrounding_whitespace() {
    assert_eq!(Uic::parse("  mbeibr7da1\n").unwrap().as_str(), "MBEIBR7DA1");
    assert_eq!(Uic::parse("MbeIbr7Da1").unwrap().as_str(), "MBEIBR7DA1");
}

#[test]
fn parse_rejects_anything_else() {
    for input in [
        "",
        "MBEIBR7DA",   // the prototype's short pattern, 9 chars
        "MBEIBR7DA11", // 11 chars, the last no letter
        "MBEIBR7DA1A", // A is the first phone's, which keeps the code bare
        "MBEIBR7DA1BB",
        "MBE IBR7DA1",
        "MBE-IBR-7-DA-1",
        "MBEIBR7DA5",
        "MBEIBR7DA0",
        "MBEIB17DA1",
        "MBEIBRXDA1",
        "MBEIBR7D11",
        "ÉBEIBR7DA1",
        "MBEIBR７DA1",
    ] {
        assert!(Uic::parse(input).is_err(), "{input:?}");
    }
}

#[test]
fn parse_error_keeps_the_trimmed_text_and_explains_the_format() {
    let err = Uic::parse(" abc ").unwrap_err();
    assert_eq!(err, InvalidUic("abc".into()));
    assert!(err.to_string().contains("MBEIBR7DA1"));
}

#[test]
fn from_parts_builds_the_code_in_order() {
    let p = parts("MBE", "IBR", 7, "DA", Gender::Homme);
    assert_eq!(Uic::from_parts(&p).as_str(), "MBEIBR7DA1");
    let p = parts("KAB", "ELO", 0, "KN", Gender::Autre);
    assert_eq!(Uic::from_parts(&p).as_str(), "KABELO0KN4");
}

#[test]
fn from_parts_keeps_the_format_even_for_parts_built_by_hand() {
    let p = parts("mb", "", 17, "kinshasa", Gender::Femme);
    assert_eq!(Uic::from_parts(&p).as_str(), "MBXXXX7KI2");
}

#[test]
fn parts_splits_the_code_back() {
    let uic = Uic::parse("MBEIBR7DA1").unwrap();
    assert_eq!(uic.parts(), parts("MBE", "IBR", 7, "DA", Gender::Homme));
}

#[test]
fn display_and_string_conversion_give_the_code() {
    let uic = Uic::parse("mbeibr7da1").unwrap();
    assert_eq!(uic.to_string(), "MBEIBR7DA1");
    assert_eq!(String::from(uic), "MBEIBR7DA1");
}

#[test]
fn serde_round_trips_and_rejects_malformed_codes() {
    let uic = Uic::parse("MBEIBR7DA1").unwrap();
    let json = serde_json::to_string(&uic).unwrap();
    assert_eq!(json, "\"MBEIBR7DA1\"");
    assert_eq!(serde_json::from_str::<Uic>(&json).unwrap(), uic);
    assert!(serde_json::from_str::<Uic>("\"MBEIBR7DA9\"").is_err());
}

#[test]
fn same_answers_always_give_the_same_code() {
    let build = || {
        Uic::from_parts(&UicParts {
            last: name_code("Kabila-Kabange").unwrap(),
            first: name_code("Élodie").unwrap(),
            year_digit: year_digit("né en 1989", YEAR).unwrap(),
            city: city_code("kinshasa", &kinshasa_list()).unwrap(),
            gender: gender("féminin").unwrap(),
        })
    };
    assert_eq!(build(), build());
    assert_eq!(build().as_str(), "KABELO9KN2");
}

// ---- properties ----

fn name_answer() -> impl Strategy<Value = String> {
    "[A-Za-zÀ-ÿɛɔƐƆ' -]{0,8}[A-Za-zÉéÇçÑñɛɔƐƆ][A-Za-zÀ-ÿɛɔƐƆ'’ -]{0,8}"
}

fn year_answer() -> impl Strategy<Value = String> {
    (1900i32..=YEAR, 0usize..4).prop_map(|(y, form)| match form {
        0 => y.to_string(),
        1 => format!("{:02}", y % 100),
        2 => (y % 10).to_string(),
        _ => format!("né en {y}."),
    })
}

fn city_answer() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{2}",
        "[A-Z]\\.[a-z]\\.",
        prop::sample::select(vec![
            "Kinshasa".to_string(),
            "mbuji mayi".to_string(),
            "LUBUMBASHI".to_string(),
            "KG - Kisangani".to_string(),
        ]),
    ]
}

fn gender_answer() -> impl Strategy<Value = String> {
    prop::sample::select(
        [
            "1",
            "2",
            "3",
            "4",
            " 2 ",
            "1 = Homme",
            "homme",
            "Femme",
            "H",
            "f",
            "féminin",
            "male",
            "woman",
            "trans",
            "transgenre",
            "autre",
            "other",
            "O",
        ]
        .map(String::from)
        .to_vec(),
    )
}

fn any_gender() -> impl Strategy<Value = Gender> {
    prop::sample::select(vec![
        Gender::Homme,
        Gender::Femme,
        Gender::Trans,
        Gender::Autre,
    ])
}

proptest! {
    #[test]
    fn no_answer_function_panics_on_any_string(s in any::<String>(), year in any::<i32>()) {
        let _ = letters(&s);
        let _ = name_code(&s);
        let _ = year_digit(&s, year);
        let _ = city_code(&s, &[]);
        let _ = city_code(&s, &kinshasa_list());
        let _ = gender(&s);
        let _ = Uic::parse(&s);
    }

    #[test]
    fn letters_gives_only_a_to_z_and_is_idempotent(s in any::<String>()) {
        let l = letters(&s);
        prop_assert!(l.chars().all(|c| c.is_ascii_uppercase()));
        prop_assert_eq!(letters(&l), l);
    }

    #[test]
    fn name_code_is_deterministic_and_three_uppercase_letters(s in any::<String>()) {
        let a = name_code(&s);
        prop_assert_eq!(&a, &name_code(&s));
        if let Ok(code) = a {
            prop_assert_eq!(code.len(), 3);
            prop_assert!(code.chars().all(|c| c.is_ascii_uppercase()));
        } else {
            prop_assert_eq!(letters(&s), "");
        }
    }

    #[test]
    fn year_digit_when_ok_is_a_single_digit(s in any::<String>(), year in 1900i32..3000) {
        if let Ok(d) = year_digit(&s, year) {
            prop_assert!(d <= 9);
        }
    }

    #[test]
    fn city_code_when_ok_is_two_uppercase_letters(s in any::<String>()) {
        for list in [vec![], kinshasa_list()] {
            if let Ok(code) = city_code(&s, &list) {
                prop_assert_eq!(code.len(), 2);
                prop_assert!(code.chars().all(|c| c.is_ascii_uppercase()));
            }
        }
    }

    #[test]
    fn parse_when_ok_always_matches_the_format(s in any::<String>()) {
        if let Ok(uic) = Uic::parse(&s) {
            prop_assert!(matches_format(uic.as_str()));
        }
    }

    #[test]
    fn valid_answers_give_a_well_formed_code_that_round_trips(
        last in name_answer(),
        first in name_answer(),
        year in year_answer(),
        city in city_answer(),
        g in gender_answer(),
    ) {
        let p = UicParts {
            last: name_code(&last).unwrap(),
            first: name_code(&first).unwrap(),
            year_digit: year_digit(&year, YEAR).unwrap(),
            city: city_code(&city, &kinshasa_list()).unwrap(),
            gender: gender(&g).unwrap(),
        };
        let uic = Uic::from_parts(&p);
        prop_assert!(matches_format(uic.as_str()), "{}", uic);
        prop_assert_eq!(Uic::parse(uic.as_str()).unwrap(), uic.clone());
        prop_assert_eq!(Uic::parse(&uic.as_str().to_lowercase()).unwrap(), uic.clone());
        prop_assert_eq!(uic.parts(), p);
    }

    #[test]
    fn from_parts_is_well_formed_for_any_parts(
        last in any::<String>(),
        first in any::<String>(),
        y in any::<u8>(),
        city in any::<String>(),
        g in any_gender(),
    ) {
        let uic = Uic::from_parts(&UicParts { last, first, year_digit: y, city, gender: g });
        prop_assert!(matches_format(uic.as_str()));
        prop_assert_eq!(Uic::from_parts(&uic.parts()), uic);
    }

    #[test]
    fn every_well_formed_code_parses_and_round_trips_through_its_parts(
        code in "[A-Z]{6}[0-9][A-Z]{2}[1-4]",
    ) {
        let uic = Uic::parse(&code).unwrap();
        prop_assert_eq!(uic.as_str(), code.as_str());
        prop_assert_eq!(Uic::from_parts(&uic.parts()), uic);
    }
}

#[test]
fn a_later_phones_code_parses_and_its_parts_are_the_codes() {
    let split = Uic::parse(" mbeibr7da1b ").unwrap();
    assert_eq!(split.as_str(), "MBEIBR7DA1B");
    assert_eq!(split.suffix(), Some('B'));
    assert_eq!(split.base().as_str(), "MBEIBR7DA1");
    assert_eq!(split.parts(), Uic::parse("MBEIBR7DA1").unwrap().parts());
    assert_eq!(Uic::parse("MBEIBR7DA1").unwrap().suffix(), None);
    let json = serde_json::to_string(&split).unwrap();
    assert_eq!(serde_json::from_str::<Uic>(&json).unwrap(), split);
}

#[test]
fn different_people_the_first_phone_keeps_the_code_and_later_ones_get_b_to_z() {
    let base = Uic::parse("MBEIBR7DA1").unwrap();
    let codes = distinct_codes(&base, &[], 2).unwrap();
    let codes: Vec<&str> = codes.iter().map(Uic::as_str).collect();
    assert_eq!(codes, ["MBEIBR7DA1B", "MBEIBR7DA1C"]);
    assert!(distinct_codes(&base, &[], 0).unwrap().is_empty());
    let all = distinct_codes(&base, &[], 25).unwrap();
    assert_eq!(all.last().unwrap().as_str(), "MBEIBR7DA1Z");
    assert!(all.iter().all(|u| Uic::parse(u.as_str()).as_ref() == Ok(u)));
}

#[test]
fn a_later_split_skips_the_letters_given_before() {
    let base = Uic::parse("MBEIBR7DA1").unwrap();
    let taken = [
        Uic::parse("MBEIBR7DA1B").unwrap(),
        Uic::parse("MBEIBR7DA1D").unwrap(),
        // Another code's letter is no concern of this one.
        Uic::parse("KABJEA0KI2C").unwrap(),
    ];
    let codes = distinct_codes(&base, &taken, 2).unwrap();
    assert_eq!(codes[0].as_str(), "MBEIBR7DA1C");
    assert_eq!(codes[1].as_str(), "MBEIBR7DA1E");
}

#[test]
fn more_than_twenty_five_later_phones_is_refused_precisely() {
    let base = Uic::parse("MBEIBR7DA1").unwrap();
    assert_eq!(
        distinct_codes(&base, &[], 26),
        Err(SplitError::TooManyPhones {
            wanted: 26,
            free: 25
        })
    );
    let taken = [Uic::parse("MBEIBR7DA1B").unwrap()];
    let err = distinct_codes(&base, &taken, 25).unwrap_err();
    assert_eq!(
        err,
        SplitError::TooManyPhones {
            wanted: 25,
            free: 24
        }
    );
    assert!(err.to_string().contains("25"));
    let split = Uic::parse("MBEIBR7DA1B").unwrap();
    assert!(matches!(
        distinct_codes(&split, &[], 1),
        Err(SplitError::AlreadySuffixed(_))
    ));
}
