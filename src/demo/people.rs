//! The made-up people of the demo tenant and what they type: names drawn
//! from common Congolese names (the first ones of each list more often, as
//! in life, so that some codes collide), birth years, cities, and the ways
//! people answer each question.

use crate::flow::Step;
use crate::uic::Gender;
use rand::RngExt;
use rand::rngs::StdRng;

/// Family names (a few with Lingala letters, which the code maps to E/O).
pub const LAST_NAMES: &[&str] = &[
    "Mbuyi",
    "Kabongo",
    "Ilunga",
    "Kasongo",
    "Tshibangu",
    "Mukendi",
    "Kalala",
    "Ngoy",
    "Banza",
    "Mwamba",
    "Kayembe",
    "Lukusa",
    "Mutombo",
    "Nkulu",
    "Kanku",
    "Tshimanga",
    "Ngalula",
    "Mpiana",
    "Nsimba",
    "Makiese",
    "Lokua",
    "Bokungu",
    "Ekofo",
    "Kabila",
    "Mbala",
    "Lumbu",
    "Kapinga",
    "Mulumba",
    "Tshisekedi",
    "Kazadi",
    "Kitenge",
    "Mbo",
    "Ba",
    "N'Diaye",
    "Bɔngɔ",
    "Nzuzi",
    "Matondo",
    "Lusamba",
    "Kiese",
    "Mavungu",
    "Bakajika",
    "Numbi",
    "Kyungu",
    "Mwenze",
    "Kalonji",
    "Bope",
    "Mafuta",
    "Luzolo",
    "Tshilombo",
    "Kibwe",
    "Ndombe",
    "Musau",
    "Kahindo",
    "Masika",
    "Kavira",
    "Mumbere",
    "Paluku",
    "Kambale",
    "Muhindo",
];

/// First names.
pub const FIRST_NAMES: &[&str] = &[
    "Grâce",
    "Jean",
    "Marie",
    "Espoir",
    "Christelle",
    "Patient",
    "Merveille",
    "Joseph",
    "Dieudonné",
    "Bénédicte",
    "Fiston",
    "Rachel",
    "Esther",
    "Cédric",
    "Ornella",
    "Plamedi",
    "Exaucé",
    "Glody",
    "Nathalie",
    "Héritier",
    "Gloire",
    "Divine",
    "Trésor",
    "Josué",
    "Sarah",
    "Daniel",
    "Chancelle",
    "Blaise",
    "Prisca",
    "Jonathan",
    "Rebecca",
    "Emmanuel",
    "Aline",
    "Junior",
    "Mireille",
    "Patrick",
    "Sandrine",
    "Christian",
    "Nadège",
    "Arsène",
    "Falonne",
    "Ruth",
    "Jérémie",
    "Naomie",
    "Israël",
    "Dorcas",
    "Fabrice",
    "Joëlle",
];

/// A city of birth: its code and the name people type.
#[derive(Debug, Clone, Copy)]
pub struct City {
    pub code: &'static str,
    pub name: &'static str,
}

pub const CITIES: &[City] = &[
    City {
        code: "KN",
        name: "Kinshasa",
    },
    City {
        code: "LU",
        name: "Lubumbashi",
    },
    City {
        code: "MM",
        name: "Mbuji-Mayi",
    },
    City {
        code: "KS",
        name: "Kisangani",
    },
    City {
        code: "KG",
        name: "Kananga",
    },
    City {
        code: "BK",
        name: "Bukavu",
    },
    City {
        code: "GO",
        name: "Goma",
    },
    City {
        code: "MT",
        name: "Matadi",
    },
    City {
        code: "KW",
        name: "Kikwit",
    },
    City {
        code: "LI",
        name: "Likasi",
    },
    City {
        code: "KO",
        name: "Kolwezi",
    },
    City {
        code: "BU",
        name: "Bunia",
    },
    City {
        code: "BD",
        name: "Bandundu",
    },
    City {
        code: "UV",
        name: "Uvira",
    },
];

/// The city with this code.
pub fn city(code: &str) -> City {
    CITIES
        .iter()
        .copied()
        .find(|c| c.code == code)
        .unwrap_or(CITIES[0])
}

/// One person writing to a programme.
#[derive(Debug, Clone)]
pub struct Person {
    pub last: &'static str,
    pub first: &'static str,
    pub year: i32,
    pub city: City,
    pub gender: Gender,
    /// E.164, `+243…`.
    pub phone: String,
}

/// An index into a list of `len`, the first ones more often.
fn skewed(rng: &mut StdRng, len: usize) -> usize {
    let u: f64 = rng.random();
    ((u * u * len as f64) as usize).min(len.saturating_sub(1))
}

/// Mobile prefixes of the Congolese operators (Vodacom, Airtel, Orange, Africell).
const PREFIXES: &[&str] = &["81", "82", "83", "84", "85", "89", "90", "97", "98", "99"];

/// The `n`th person's number: the 7 digits are `n` scrambled by a bijection
/// of 0..10^7 (multiplying by a number prime to 10), so no two people of one
/// run share a number.
pub fn phone(n: u64, salt: u64) -> String {
    let digits = (n.wrapping_mul(7_654_321) + salt) % 10_000_000;
    let prefix = PREFIXES[(n % PREFIXES.len() as u64) as usize];
    format!("+243{prefix}{digits:07}")
}

/// A new person, born near `home` most of the time, an adult in `this_year`.
pub fn person(rng: &mut StdRng, home: &[&'static str], phone: String, this_year: i32) -> Person {
    let city_code = if !home.is_empty() && rng.random_bool(0.8) {
        home[skewed(rng, home.len())]
    } else {
        CITIES[rng.random_range(0..CITIES.len())].code
    };
    // Adults of 18 to 60, most between 20 and 40.
    let age = 18 + (rng.random::<f64>().powf(1.6) * 42.0) as i32;
    let gender = match rng.random_range(0..100) {
        0..=46 => Gender::Homme,
        47..=94 => Gender::Femme,
        95..=97 => Gender::Trans,
        _ => Gender::Autre,
    };
    Person {
        last: LAST_NAMES[skewed(rng, LAST_NAMES.len())],
        first: FIRST_NAMES[skewed(rng, FIRST_NAMES.len())],
        year: this_year - age,
        city: city(city_code),
        gender,
        phone,
    }
}

/// What a person types: the text, the message kind, and the id of a tapped
/// button when it is one.
#[derive(Debug, Clone)]
pub struct Typed {
    pub text: String,
    pub kind: &'static str,
    pub choice: Option<String>,
}

impl Typed {
    pub fn text(text: impl Into<String>) -> Typed {
        Typed {
            text: text.into(),
            kind: "text",
            choice: None,
        }
    }
}

/// The right answer to the question at `step`, written one of the ways
/// people write it. `listed`: the account offers its city list (a list
/// row may be tapped, a listed city typed by name).
pub fn answer(rng: &mut StdRng, p: &Person, step: &Step, listed: &[&str]) -> Typed {
    let style = rng.random_range(0..100);
    match step {
        Step::LastName => Typed::text(name_style(p.last, style)),
        Step::FirstName => Typed::text(name_style(p.first, style)),
        Step::BirthYear => Typed::text(match style {
            0..=64 => p.year.to_string(),
            65..=84 => format!("{:02}", p.year % 100),
            85..=94 => (p.year % 10).to_string(),
            _ => format!("né en {}", p.year),
        }),
        Step::BirthCity => {
            let is_listed = listed.contains(&p.city.code);
            if is_listed && style < 50 {
                Typed {
                    text: p.city.name.to_string(),
                    kind: "interactive",
                    choice: Some(format!("city_{}", p.city.code)),
                }
            } else if is_listed && style < 70 {
                Typed::text(p.city.name)
            } else if style < 90 {
                Typed::text(p.city.code)
            } else {
                Typed::text(p.city.code.to_lowercase())
            }
        }
        Step::Gender => {
            let (id, title) = match p.gender {
                Gender::Homme => ("g1", "Homme"),
                Gender::Femme => ("g2", "Femme"),
                Gender::Trans => ("g3", "Trans"),
                Gender::Autre => ("g4", "Autre"),
            };
            match style {
                0..=59 => Typed {
                    text: title.to_string(),
                    kind: "interactive",
                    choice: Some(id.to_string()),
                },
                60..=84 => Typed::text(p.gender.digit().to_string()),
                _ => Typed::text(title.to_lowercase()),
            }
        }
        Step::Start | Step::Done { .. } | Step::Escalated => Typed::text("Bonjour"),
    }
}

fn name_style(name: &str, style: u32) -> String {
    match style {
        0..=59 => name.to_string(),
        60..=79 => crate::uic::name_code(name).unwrap_or_else(|_| name.to_string()),
        80..=89 => name.to_lowercase(),
        _ => name.to_uppercase(),
    }
}

/// An answer the bot cannot understand at `step` (a failed try).
pub fn wrong_answer(rng: &mut StdRng, step: &Step, listed: &[&str]) -> Typed {
    let pick = |rng: &mut StdRng, options: &[&str]| {
        options[rng.random_range(0..options.len())].to_string()
    };
    Typed::text(match step {
        Step::LastName | Step::FirstName => pick(rng, &["???", "123", "."]),
        Step::BirthYear => pick(
            rng,
            &["je ne sais pas", "19 97", "2099", "vers 1990 ou 1991"],
        ),
        Step::BirthCity if listed.is_empty() => {
            pick(rng, &["Kinshasa", "Lubumbashi", "au village"])
        }
        Step::BirthCity => pick(rng, &["au village", "je ne sais pas", "?"]),
        Step::Gender => pick(rng, &["oui", "5", "0", "homme ou femme"]),
        Step::Start | Step::Done { .. } | Step::Escalated => "?".to_string(),
    })
}

/// A first message: greetings (some with the person's name, which the bot
/// keeps as a length only).
pub fn greeting(rng: &mut StdRng, p: &Person) -> Typed {
    Typed::text(match rng.random_range(0..10) {
        0..=3 => "Bonjour".to_string(),
        4 => "Bonsoir".to_string(),
        5 => "Mbote".to_string(),
        6 => "Bjr".to_string(),
        7 => format!("Bonjour, je suis {} {}, je veux mon code", p.last, p.first),
        8 => "Salut, c'est pour le code CIU".to_string(),
        _ => "Hello".to_string(),
    })
}

/// What people write once the bot gave them their code.
pub fn thanks(rng: &mut StdRng) -> Typed {
    Typed::text(
        [
            "Merci",
            "Merci beaucoup",
            "Ok merci",
            "👍",
            "Merci, Dieu vous bénisse",
        ][rng.random_range(0..5)],
    )
}

/// What a person writes to staff (kept as written: no names in these).
pub const TO_STAFF: &[&str] = &[
    "Bonjour, je n'arrive pas à répondre à la question sur la ville",
    "Je suis né à l'étranger, quel code je mets pour la ville ?",
    "Je ne connais pas mon année de naissance exacte",
    "Est-ce que mon code reste le même si je change de numéro ?",
    "Où se trouve le centre le plus proche ?",
    "À quelle heure ouvre le centre demain ?",
    "J'ai perdu mon code, comment le retrouver ?",
    "C'est pour ma sœur, elle n'a pas de téléphone",
    "D'accord",
    "Oui",
    "Merci beaucoup",
    "Je comprends, merci",
];

/// What a person writes while nobody has answered yet.
pub const STILL_WAITING: &[&str] = &[
    "Allô ?",
    "Vous êtes là ?",
    "J'attends toujours",
    "Bonjour ?",
];

/// What staff write.
pub const FROM_STAFF: &[&str] = &[
    "Bonjour, ici l'équipe du programme. Comment puis-je vous aider ?",
    "Pour la ville, répondez avec les 2 lettres de votre ville de naissance, par exemple KN pour Kinshasa.",
    "Si vous ne connaissez pas l'année exacte, donnez celle qui est écrite sur votre carte.",
    "Votre code ne change pas si vous changez de numéro : il dépend seulement de vos réponses.",
    "Le centre est ouvert du lundi au vendredi, de 8 h à 16 h.",
    "Nous avons bien reçu votre photo, merci.",
    "Pouvez-vous préciser votre question ?",
    "Répondez RECOMMENCER pour refaire les questions : vous retrouverez le même code.",
    "Je vous remets avec l'assistant pour terminer les questions.",
    "Merci, bonne journée !",
];
