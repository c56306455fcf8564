//! No typed name is stored anywhere (DESIGN.md section 1).

use crate::helpers::*;
use rstest::rstest;

#[rstest]
#[tokio::test]
async fn full_names_typed_in_a_conversation_are_nowhere_in_the_database(
    #[values(Backend::Sqlite, Backend::Postgres)] backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let phone = "+243990000001";
    let texts = ["Bonjour", "Mbengue", "Ibrahima", "1988", "DA", "Homme"];
    let mut last = String::new();
    for (i, t) in texts.iter().enumerate() {
        last = app.twilio_say(phone, &format!("SM{i:032}"), t).await;
    }
    assert!(last.contains("MBEIBR8DA1"));
    // Unreadable answers that hold names are not kept either.
    app.sandbox_say("+243990000009", "Bonjour").await;
    app.sandbox_say("+243990000009", "Kabongo-Tshilombo").await;
    app.sandbox_say("+243990000009", "Josephine").await;
    app.sandbox_say("+243990000009", "née en Kabongo").await;

    let dump = app.dump_database().await.to_lowercase();
    assert!(
        dump.contains("mbe"),
        "the dump is readable and holds the shortened answer"
    );
    for name in [
        "mbengue",
        "ibrahima",
        "kabongo",
        "tshilombo",
        "josephine",
        "1988",
    ] {
        if let Some(at) = dump.find(name) {
            let context: String = dump[at.saturating_sub(80)..(at + 80).min(dump.len())]
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            panic!("{name:?} found in the {backend:?} database: …{context}…");
        }
    }
}
