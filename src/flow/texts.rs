//! Every text the bot says, in French (the prototype's wording, which users
//! and trainers know) and English. An account may override any of them by
//! its name (`TextKey::name`).

use super::{FlowConfig, Language};
use std::borrow::Cow;

/// One text of the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKey {
    Welcome,
    QuestionLastName,
    QuestionFirstName,
    QuestionBirthYear,
    QuestionBirthCity,
    QuestionGender,
    Understood,
    Generating,
    /// Placeholders `{uic}` and `{qr}` (the QR line, or nothing).
    Final,
    QrLine,
    Help,
    Restarted,
    /// Placeholder `{minutes}`.
    SessionExpired,
    Escalated,
    TooManyTries,
    /// Media sent instead of an answer.
    EscalatedMedia,
    AwaitingAgent,
    /// Nobody took the conversation within the waiting limit.
    NobodyAvailable,
    /// Staff handed the conversation back: the flow resumes.
    Resumed,
    /// Placeholder `{uic}`.
    AlreadyDone,
    TypeYourAnswer,
    /// A tapped button that belongs to another question.
    StaleChoice,
    NoLetters,
    NoYear,
    /// Placeholder `{year}` (the current year).
    YearOutOfRange,
    AmbiguousYear,
    UnknownCity,
    UnknownGender,
    /// A supervisor split a code two people shared (issue 15): this person
    /// gets a code of their own. Placeholder `{uic}`. Never hints at
    /// anyone else.
    CodeChanged,
}

impl TextKey {
    /// Every key, for settings pages and tests.
    pub const ALL: [TextKey; 29] = [
        TextKey::Welcome,
        TextKey::QuestionLastName,
        TextKey::QuestionFirstName,
        TextKey::QuestionBirthYear,
        TextKey::QuestionBirthCity,
        TextKey::QuestionGender,
        TextKey::Understood,
        TextKey::Generating,
        TextKey::Final,
        TextKey::QrLine,
        TextKey::Help,
        TextKey::Restarted,
        TextKey::SessionExpired,
        TextKey::Escalated,
        TextKey::TooManyTries,
        TextKey::EscalatedMedia,
        TextKey::AwaitingAgent,
        TextKey::NobodyAvailable,
        TextKey::Resumed,
        TextKey::AlreadyDone,
        TextKey::TypeYourAnswer,
        TextKey::StaleChoice,
        TextKey::NoLetters,
        TextKey::NoYear,
        TextKey::YearOutOfRange,
        TextKey::AmbiguousYear,
        TextKey::UnknownCity,
        TextKey::UnknownGender,
        TextKey::CodeChanged,
    ];

    /// Stable name, the key of per-account overrides.
    pub fn name(self) -> &'static str {
        match self {
            TextKey::Welcome => "welcome",
            TextKey::QuestionLastName => "question_last_name",
            TextKey::QuestionFirstName => "question_first_name",
            TextKey::QuestionBirthYear => "question_birth_year",
            TextKey::QuestionBirthCity => "question_birth_city",
            TextKey::QuestionGender => "question_gender",
            TextKey::Understood => "understood",
            TextKey::Generating => "generating",
            TextKey::Final => "final",
            TextKey::QrLine => "qr_line",
            TextKey::Help => "help",
            TextKey::Restarted => "restarted",
            TextKey::SessionExpired => "session_expired",
            TextKey::Escalated => "escalated",
            TextKey::TooManyTries => "too_many_tries",
            TextKey::AwaitingAgent => "awaiting_agent",
            TextKey::EscalatedMedia => "escalated_media",
            TextKey::NobodyAvailable => "nobody_available",
            TextKey::Resumed => "resumed",
            TextKey::AlreadyDone => "already_done",
            TextKey::TypeYourAnswer => "type_your_answer",
            TextKey::StaleChoice => "stale_choice",
            TextKey::NoLetters => "error_no_letters",
            TextKey::NoYear => "error_no_year",
            TextKey::YearOutOfRange => "error_year_out_of_range",
            TextKey::AmbiguousYear => "error_ambiguous_year",
            TextKey::UnknownCity => "error_unknown_city",
            TextKey::UnknownGender => "error_unknown_gender",
            TextKey::CodeChanged => "code_changed",
        }
    }

    /// The built-in text in `language`.
    pub fn default_text(self, language: Language) -> &'static str {
        match language {
            Language::Fr => self.french(),
            Language::En => self.english(),
        }
    }

    fn french(self) -> &'static str {
        match self {
            TextKey::Welcome => {
                "Bienvenue au Générateur CIU!\n\n\
                 Je vais vous poser 5 questions pour générer votre Code d'Identification Unique (CIU).\n\n\
                 Votre CIU est:\n- Unique pour vous\n- Privé et sécurisé\n- Peut être régénéré si nécessaire\n\n\
                 Tapez RESTART pour recommencer.\nTapez HELP pour de l'aide.\n\nCommençons!"
            }
            TextKey::QuestionLastName => {
                "Question 1 sur 5:\n\nQuelles sont les 3 premières lettres de votre nom de famille?\n\nExemple: MBE"
            }
            TextKey::QuestionFirstName => {
                "Question 2 sur 5:\n\nQuelles sont les 3 premières lettres de votre prénom?\n\nExemple: IBR"
            }
            TextKey::QuestionBirthYear => {
                "Question 3 sur 5:\n\nQuel est le dernier chiffre de votre année de naissance?\n\nExemple: 7 (pour 1997)"
            }
            TextKey::QuestionBirthCity => {
                "Question 4 sur 5:\n\nQuel est le code de votre ville de naissance?\n(2 lettres)\n\nExemple: DA (pour Dakar)"
            }
            TextKey::QuestionGender => {
                "Question 5 sur 5:\n\nQuel est votre code de genre?\n\n1 = Homme\n2 = Femme\n3 = Trans\n4 = Autre"
            }
            TextKey::Understood => "Compris!",
            TextKey::Generating => {
                "Merci! J'ai toutes les informations.\n\nGénération de votre CIU sécurisé...\nVeuillez patienter..."
            }
            TextKey::Final => {
                "Votre Code d'Identification Unique a été généré!\n\nVotre CIU:\n=====\n{uic}\n=====\n\n\
                 Ce code est maintenant enregistré à votre nom.\n\n\
                 Sauvegardez ce code! Vous pouvez le redemander en commençant une nouvelle conversation.{qr}\n\n\
                 Tapez RESTART pour générer un nouveau CIU ou mettre à jour vos informations."
            }
            TextKey::QrLine => "\n\nVous recevrez également un code QR pour un accès facile.",
            TextKey::Help => {
                "Aide:\nRépondez à chaque question par un message. Vous pouvez écrire le nom entier (Mbengue) \
                 ou seulement les 3 premières lettres (MBE), l'année entière (1997) ou son dernier chiffre (7).\n\n\
                 RECOMMENCER (ou RESTART): reprendre depuis le début\n\
                 AIDE (ou HELP): ce message\n\
                 AGENT (ou HUMAIN): parler à un membre de l'équipe\n\n\
                 Votre nom n'est pas enregistré: il sert seulement à calculer votre code."
            }
            TextKey::Restarted => "D'accord, on recommence depuis le début.",
            TextKey::SessionExpired => {
                "Votre session a expiré ({minutes} minutes sans message). On recommence depuis le début."
            }
            TextKey::Escalated => {
                "Un membre de l'équipe va vous répondre ici dès que possible. Merci de patienter."
            }
            TextKey::TooManyTries => {
                "Je n'arrive pas à comprendre votre réponse. Un membre de l'équipe va vous répondre ici dès que possible."
            }
            TextKey::EscalatedMedia => {
                "Merci pour votre envoi. Un membre de l'équipe va le regarder et vous répondre ici dès que possible."
            }
            TextKey::NobodyAvailable => {
                "Désolé, personne de l'équipe n'est disponible pour le moment. \
                 Pour obtenir votre code tout de suite, tapez RECOMMENCER et répondez aux 5 questions."
            }
            TextKey::Resumed => "Reprenons là où nous nous étions arrêtés.",
            TextKey::AwaitingAgent => {
                "Votre demande a été transmise à l'équipe, qui va vous répondre ici. \
                 Tapez RECOMMENCER pour reprendre les questions."
            }
            TextKey::AlreadyDone => {
                "Votre CIU:\n=====\n{uic}\n=====\n\nTapez RESTART pour générer un nouveau CIU ou mettre à jour vos informations."
            }
            TextKey::TypeYourAnswer => {
                "Je ne peux lire que du texte. Merci de taper votre réponse."
            }
            TextKey::StaleChoice => {
                "Ce choix répond à une autre question. Merci de répondre à celle-ci:"
            }
            TextKey::NoLetters => {
                "Je n'ai trouvé aucune lettre dans votre réponse. Écrivez le nom en lettres, par exemple MBE."
            }
            TextKey::NoYear => {
                "Je n'ai pas trouvé de chiffre. Écrivez le dernier chiffre de votre année de naissance (7) ou l'année entière (1997)."
            }
            TextKey::YearOutOfRange => {
                "Cette année n'est pas possible. Écrivez une année entre 1900 et {year}, ou seulement son dernier chiffre."
            }
            TextKey::AmbiguousYear => {
                "Je n'ai pas compris l'année. Écrivez un seul nombre: le dernier chiffre (7) ou l'année entière (1997)."
            }
            TextKey::UnknownCity => {
                "Je ne connais pas cette ville. Écrivez le code de 2 lettres de votre ville de naissance, par exemple DA."
            }
            TextKey::UnknownGender => {
                "Répondez par un chiffre de 1 à 4: 1 = Homme, 2 = Femme, 3 = Trans, 4 = Autre."
            }
            TextKey::CodeChanged => {
                "Votre code CIU a été mis à jour par l'équipe du programme.\n\nVotre code est désormais:\n=====\n{uic}\n=====\n\n\
                 Gardez ce nouveau code."
            }
        }
    }

    fn english(self) -> &'static str {
        match self {
            TextKey::Welcome => {
                "Welcome to the UIC Generator!\n\n\
                 I will ask you 5 questions to generate your Unique Identifier Code (UIC).\n\n\
                 Your UIC is:\n- Unique to you\n- Private and secure\n- Can be generated again if needed\n\n\
                 Type RESTART to start over.\nType HELP for help.\n\nLet's begin!"
            }
            TextKey::QuestionLastName => {
                "Question 1 of 5:\n\nWhat are the first 3 letters of your last name?\n\nExample: MBE"
            }
            TextKey::QuestionFirstName => {
                "Question 2 of 5:\n\nWhat are the first 3 letters of your first name?\n\nExample: IBR"
            }
            TextKey::QuestionBirthYear => {
                "Question 3 of 5:\n\nWhat is the last digit of your year of birth?\n\nExample: 7 (for 1997)"
            }
            TextKey::QuestionBirthCity => {
                "Question 4 of 5:\n\nWhat is the code of your city of birth?\n(2 letters)\n\nExample: DA (for Dakar)"
            }
            TextKey::QuestionGender => {
                "Question 5 of 5:\n\nWhat is your gender code?\n\n1 = Male\n2 = Female\n3 = Trans\n4 = Other"
            }
            TextKey::Understood => "Got it!",
            TextKey::Generating => {
                "Thank you! I have all the information.\n\nGenerating your secure UIC...\nPlease wait..."
            }
            TextKey::Final => {
                "Your Unique Identifier Code has been generated!\n\nYour UIC:\n=====\n{uic}\n=====\n\n\
                 This code is now registered for you.\n\n\
                 Save this code! You can ask for it again by starting a new conversation.{qr}\n\n\
                 Type RESTART to generate a new UIC or update your information."
            }
            TextKey::QrLine => "\n\nYou will also receive a QR code for easy access.",
            TextKey::Help => {
                "Help:\nAnswer each question with one message. You may type the whole name (Mbengue) \
                 or only its first 3 letters (MBE), the whole year (1997) or its last digit (7).\n\n\
                 RESTART: start again from the beginning\n\
                 HELP: this message\n\
                 AGENT: talk to a member of the team\n\n\
                 Your name is not stored: it is only used to compute your code."
            }
            TextKey::Restarted => "All right, let's start again from the beginning.",
            TextKey::SessionExpired => {
                "Your session expired ({minutes} minutes without a message). Let's start again."
            }
            TextKey::Escalated => {
                "A member of the team will answer you here as soon as possible. Thank you for waiting."
            }
            TextKey::TooManyTries => {
                "I cannot understand your answer. A member of the team will answer you here as soon as possible."
            }
            TextKey::EscalatedMedia => {
                "Thank you for sending this. A member of the team will look at it and answer you here as soon as possible."
            }
            TextKey::NobodyAvailable => {
                "Sorry, nobody from the team is available right now. \
                 To get your code now, type RESTART and answer the 5 questions."
            }
            TextKey::Resumed => "Let's continue where we stopped.",
            TextKey::AwaitingAgent => {
                "Your request was passed to the team, who will answer you here. Type RESTART to go back to the questions."
            }
            TextKey::AlreadyDone => {
                "Your UIC:\n=====\n{uic}\n=====\n\nType RESTART to generate a new UIC or update your information."
            }
            TextKey::TypeYourAnswer => "I can only read text. Please type your answer.",
            TextKey::StaleChoice => "That choice answers another question. Please answer this one:",
            TextKey::NoLetters => {
                "I found no letter in your answer. Please write the name in letters, for example MBE."
            }
            TextKey::NoYear => {
                "I found no digit. Please write the last digit of your year of birth (7) or the whole year (1997)."
            }
            TextKey::YearOutOfRange => {
                "That year is not possible. Please write a year between 1900 and {year}, or only its last digit."
            }
            TextKey::AmbiguousYear => {
                "I did not understand the year. Please write one number: the last digit (7) or the whole year (1997)."
            }
            TextKey::UnknownCity => {
                "I do not know this city. Please write the 2-letter code of your city of birth, for example DA."
            }
            TextKey::UnknownGender => {
                "Please answer with a number from 1 to 4: 1 = Male, 2 = Female, 3 = Trans, 4 = Other."
            }
            TextKey::CodeChanged => {
                "Your UIC was updated by the programme team.\n\nYour code is now:\n=====\n{uic}\n=====\n\n\
                 Keep this new code."
            }
        }
    }
}

/// The text for `key` under `config`: the account's override, else the
/// built-in text of its language.
pub fn text(config: &FlowConfig, key: TextKey) -> Cow<'_, str> {
    match config.texts.get(key.name()) {
        Some(custom) if !custom.trim().is_empty() => Cow::Borrowed(custom.as_str()),
        _ => Cow::Borrowed(key.default_text(config.language)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_has_a_distinct_name_and_both_languages() {
        let names: std::collections::BTreeSet<_> = TextKey::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), TextKey::ALL.len());
        for key in TextKey::ALL {
            assert!(!key.default_text(Language::Fr).is_empty());
            assert!(!key.default_text(Language::En).is_empty());
        }
    }

    #[test]
    fn placeholders_are_in_both_languages() {
        for (key, placeholder) in [
            (TextKey::Final, "{uic}"),
            (TextKey::Final, "{qr}"),
            (TextKey::AlreadyDone, "{uic}"),
            (TextKey::CodeChanged, "{uic}"),
            (TextKey::SessionExpired, "{minutes}"),
            (TextKey::YearOutOfRange, "{year}"),
        ] {
            assert!(
                key.default_text(Language::Fr).contains(placeholder),
                "{key:?} fr"
            );
            assert!(
                key.default_text(Language::En).contains(placeholder),
                "{key:?} en"
            );
        }
    }
}
