//! Every text of the staff UI, in French (first) and English. A template
//! names a text as a field (`p.t.login_title`), so a missing text is a
//! compile error, not a blank on the page.

use crate::auth::Lang;

macro_rules! texts {
    ($($key:ident: $fr:literal, $en:literal;)*) => {
        pub struct Texts { $(pub $key: &'static str,)* }
        pub static FR: Texts = Texts { $($key: $fr,)* };
        pub static EN: Texts = Texts { $($key: $en,)* };
    };
}

/// The texts of a language.
pub fn texts(lang: Lang) -> &'static Texts {
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

texts! {
    // Navigation and common words.
    nav_home: "Accueil", "Home";
    nav_accounts: "Numéros WhatsApp", "WhatsApp numbers";
    nav_simulator: "Simulateur", "Simulator";
    nav_users: "Utilisateurs", "Users";
    nav_roles: "Rôles", "Roles";
    nav_audit: "Journal d'audit", "Audit log";
    nav_tenants: "Organisations", "Organisations";
    nav_settings: "Confidentialité", "Privacy";
    logout: "Déconnexion", "Log out";
    back_home: "Retour à l'accueil", "Back to the home page";
    save: "Enregistrer", "Save";
    saved: "Enregistré.", "Saved.";
    create: "Créer", "Create";
    delete: "Supprimer", "Delete";
    deleted: "Supprimé.", "Deleted.";
    remove: "Retirer", "Remove";
    send: "Envoyer", "Send";
    filter: "Filtrer", "Filter";
    status: "État", "Status";
    active: "Actif", "Active";
    disabled: "Désactivé", "Disabled";
    invited: "Invité", "Invited";
    current: "Actuelle", "Current";
    on: "activé", "on";
    off: "désactivé", "off";
    from: "Du", "From";
    to: "Au", "To";
    older: "Plus anciens", "Older";
    too_long: "Ce texte est trop long.", "This text is too long.";
    description: "Description", "Description";
    slug: "Identifiant (lettres minuscules, chiffres, tirets)", "Identifier (lower-case letters, digits, hyphens)";
    slug_invalid: "L'identifiant doit compter de 2 à 40 lettres minuscules, chiffres ou tirets.", "The identifier must be 2 to 40 lower-case letters, digits or hyphens.";
    slug_taken: "Cet identifiant est déjà pris.", "This identifier is already taken.";
    name_missing: "Indiquez un nom (100 caractères au plus).", "Enter a name (at most 100 characters).";
    error_forbidden: "Vous n'avez pas la permission de faire ceci. Demandez-la à un administrateur.", "You do not have permission to do this. Ask an administrator.";
    error_busy: "Le serveur est très occupé : réessayez dans un instant.", "The server is very busy: try again in a moment.";
    error_not_found: "Cette page n'existe pas ou n'est pas accessible depuis votre organisation.", "This page does not exist or is not available to your organisation.";

    // Login, setup, invitations, own account.
    login_title: "Connexion", "Log in";
    login_button: "Se connecter", "Log in";
    login_help: "Mot de passe oublié ? Demandez un lien de réinitialisation à un administrateur.", "Forgot your password? Ask an administrator for a reset link.";
    login_missing: "Indiquez votre adresse e-mail et votre mot de passe.", "Enter your e-mail address and password.";
    login_wrong: "Adresse e-mail ou mot de passe incorrect.", "Wrong e-mail address or password.";
    login_disabled: "Ce compte est désactivé. Adressez-vous à un administrateur.", "This account is disabled. Contact an administrator.";
    email: "Adresse e-mail", "E-mail address";
    email_invalid: "Cette adresse e-mail n'est pas valide.", "This e-mail address is not valid.";
    email_taken: "Un utilisateur a déjà cette adresse e-mail.", "A user already has this e-mail address.";
    password: "Mot de passe", "Password";
    new_password: "Nouveau mot de passe (10 caractères au moins)", "New password (at least 10 characters)";
    confirm_password: "Confirmez le mot de passe", "Confirm the password";
    current_password: "Mot de passe actuel", "Current password";
    current_password_wrong: "Le mot de passe actuel est incorrect.", "The current password is wrong.";
    change_password: "Changer de mot de passe", "Change password";
    password_changed: "Mot de passe changé.", "Password changed.";
    display_name: "Nom affiché", "Display name";
    language: "Langue", "Language";
    setup_title: "Premier administrateur", "First administrator";
    setup_intro: "Créez le compte de l'administrateur de la plateforme. Ce lien ne sert qu'une fois.", "Create the platform administrator's account. This link works only once.";
    invite_title: "Choisissez votre mot de passe", "Choose your password";
    link_gone: "Ce lien n'est plus valable : il a déjà servi ou il a expiré. Demandez-en un nouveau à un administrateur.", "This link is no longer valid: it was used or it expired. Ask an administrator for a new one.";
    me_title: "Mon compte", "My account";
    home_hello: "Bienvenue", "Welcome";
    home_no_accounts: "Aucun numéro WhatsApp ne vous est attribué.", "No WhatsApp number is assigned to you.";

    // Users.
    user_new_title: "Nouvel utilisateur", "New user";
    user_new_password_help: "Laissez vide pour obtenir un lien d'invitation : l'utilisateur choisira son mot de passe.", "Leave empty to get an invitation link: the user will choose their password.";
    user_created: "Utilisateur créé.", "User created.";
    platform_admin: "Administrateur de la plateforme", "Platform administrator";
    role: "Rôle", "Role";
    roles_title: "Rôles", "Roles";
    scope: "Portée", "Scope";
    whole_tenant: "Toute l'organisation", "Whole organisation";
    add_role: "Attribuer le rôle", "Give role";
    no_roles: "Aucun rôle : cet utilisateur ne voit rien.", "No role: this user sees nothing.";
    role_missing: "Choisissez un rôle de votre organisation.", "Choose a role of your organisation.";
    account_unknown: "Ce numéro WhatsApp n'appartient pas à votre organisation.", "This WhatsApp number does not belong to your organisation.";
    cannot_give_more: "Vous ne pouvez pas donner une permission que vous n'avez pas vous-même.", "You cannot give a permission you do not have yourself.";
    last_administrator: "Refusé : après ce changement, plus personne ne pourrait gérer les utilisateurs et les rôles de l'organisation (c'est le dernier administrateur). Donnez d'abord ces droits à quelqu'un d'autre.", "Refused: after this change nobody could manage the organisation's users and roles (this is the last administrator). Give those rights to someone else first.";
    user_outranks: "Cet utilisateur a des permissions que vous n'avez pas : vous ne pouvez pas modifier son compte.", "This user has permissions you do not have: you cannot change their account.";
    cannot_disable_self: "Vous ne pouvez pas désactiver votre propre compte.", "You cannot disable your own account.";
    enable: "Réactiver", "Enable";
    disable: "Désactiver", "Disable";
    new_invite_link: "Nouveau lien d'invitation", "New invitation link";
    reset_link: "Lien de réinitialisation du mot de passe", "Password reset link";
    link_intro: "Envoyez ce lien à l'utilisateur (il ne sert qu'une fois et expire dans 7 jours). Il ne sera plus affiché.", "Send this link to the user (it works once and expires in 7 days). It will not be shown again.";
    overrides_title: "Exceptions", "Overrides";
    overrides_help: "Accorder ou refuser une permission à cet utilisateur seulement. Un refus l'emporte sur tout rôle.", "Allow or deny one permission to this user only. A deny wins over any role.";
    allow: "Accorder", "Allow";
    deny: "Refuser", "Deny";
    permission: "Permission", "Permission";
    permission_unknown: "Permission inconnue.", "Unknown permission.";
    add_override: "Ajouter l'exception", "Add override";

    // Roles.
    role_new_title: "Nouveau rôle", "New role";
    role_name: "Nom du rôle", "Role name";
    role_name_missing: "Indiquez un nom de rôle (60 caractères au plus).", "Enter a role name (at most 60 characters).";
    role_name_taken: "Un rôle porte déjà ce nom.", "A role already has this name.";
    role_builtin: "Rôle prédéfini : ses permissions ne se modifient pas. Créez un rôle pour une autre combinaison.", "Built-in role: its permissions cannot be changed. Create a role for another combination.";
    role_delete_warning: "Les utilisateurs qui l'ont le perdront", "Users who have it will lose it";
    permissions: "Permissions", "Permissions";
    assignments: "Attributions", "Assignments";
    builtin: "prédéfini", "built-in";
    tenant_only: "organisation entière", "whole organisation";

    // Accounts.
    accounts_title: "Vos numéros WhatsApp", "Your WhatsApp numbers";
    account_name: "Nom", "Name";
    provider: "Fournisseur", "Provider";
    token_invalid: "Jeton invalide", "Invalid token";
    account_new: "Nouveau numéro", "New number";
    account_new_help: "Un nouveau numéro commence en bac à sable : essayez son bot dans le simulateur, puis renseignez ses identifiants WhatsApp.", "A new number starts as a sandbox: try its bot in the simulator, then set its WhatsApp credentials.";
    flow_settings: "Réglages du bot", "Bot settings";
    bot_language: "Langue du bot", "Bot language";
    qr_codes: "QR codes", "QR codes";
    server_default: "Réglage du serveur", "Server default";
    session_timeout: "Conversation abandonnée après (minutes)", "Conversation abandoned after (minutes)";
    waiting_title: "File d'attente du personnel", "Staff queue";
    waiting_limit: "Si personne ne prend la conversation après (minutes), la personne est prévenue qu'aucun membre de l'équipe n'est disponible", "If nobody takes the conversation after (minutes), the person is told that no staff member is available";
    waiting_limit_invalid: "Le délai d'attente doit être un nombre de minutes entre 5 et 10080 (une semaine).", "The waiting limit must be a number of minutes between 5 and 10,080 (a week).";
    // A number's connection to WhatsApp (provider, ids, secrets).
    ch_title: "Connexion à WhatsApp", "Connection to WhatsApp";
    ch_provider: "Fournisseur", "Provider";
    ch_provider_sandbox: "Bac à sable (simulateur, aucun envoi)", "Sandbox (simulator, sends nothing)";
    ch_provider_twilio: "Twilio", "Twilio";
    ch_provider_meta: "Meta (WhatsApp Cloud API)", "Meta (WhatsApp Cloud API)";
    ch_phone_number: "Numéro WhatsApp (format international, +243…)", "WhatsApp number (international format, +243…)";
    ch_twilio_sid: "Account SID Twilio (AC…)", "Twilio account SID (AC…)";
    ch_twilio_token: "Auth token Twilio", "Twilio auth token";
    ch_meta_phone_id: "Phone number ID", "Phone number ID";
    ch_meta_waba_id: "WhatsApp Business account ID", "WhatsApp Business account ID";
    ch_meta_app_id: "App ID", "App ID";
    ch_meta_app_secret: "App secret", "App secret";
    ch_meta_token: "Jeton d'accès (access token)", "Access token";
    ch_meta_verify: "Jeton de vérification du webhook (verify token)", "Webhook verify token";
    ch_generate: "Générer", "Generate";
    ch_secret_set: "enregistré, se termine par", "set, ends with";
    ch_secret_unset: "non renseigné", "not set";
    ch_secret_keep: "Laissez vide pour garder la valeur enregistrée.", "Leave empty to keep the stored value.";
    ch_secrets_not_yours: "Les secrets (jetons, app secret) ne sont visibles et modifiables qu'avec la permission « jetons ».", "Secrets (tokens, app secret) can only be seen and changed with the tokens permission.";
    ch_webhook_url: "URL du webhook à coller chez Twilio ou Meta", "Webhook URL to paste in Twilio or Meta";
    ch_copy: "Copier", "Copy";
    ch_no_public_url: "PUBLIC_URL n'est pas défini : cette adresse n'est joignable que depuis ce serveur. Définissez PUBLIC_URL (https://…) pour que Twilio et Meta puissent l'appeler.", "PUBLIC_URL is not set: this address is only reachable from this server. Set PUBLIC_URL (https://…) so that Twilio and Meta can call it.";
    ch_from_env: "Ce numéro est décrit par les variables d'environnement du serveur : elles remplacent ces valeurs à chaque démarrage.", "This number is described by the server's environment variables: they replace these values at every start.";
    ch_moving: "Passer de Twilio à Meta (ou l'inverse) garde les conversations, les codes et l'URL du webhook.", "Moving from Twilio to Meta (or back) keeps the conversations, the codes and the webhook URL.";
    ch_saved: "Connexion enregistrée.", "Connection saved.";
    ch_missing: "Champ requis pour ce fournisseur :", "Required for this provider:";
    ch_malformed: "Valeur non valide :", "Not a valid value:";
    ch_rules: "Formats attendus : numéro +243…, Account SID « AC » et 32 caractères hexadécimaux, auth token et app secret 32 caractères hexadécimaux, identifiants Meta en chiffres, jetons sans espace.", "Expected: number +243…, account SID \"AC\" and 32 hexadecimal characters, auth token and app secret 32 hexadecimal characters, Meta ids in digits, tokens without spaces.";
    ch_secrets_denied: "Vous ne pouvez pas modifier les secrets de ce numéro (permission « jetons »).", "You may not change this number's secrets (tokens permission).";
    ch_test: "Tester", "Test";
    ch_test_help: "« Tester » vérifie auprès du fournisseur les valeurs du formulaire (ou, laissées vides, celles enregistrées), sans rien enregistrer.", "\"Test\" checks the form's values (or, left empty, the stored ones) with the provider, without saving anything.";
    ch_test_ok: "Tout est bon.", "All good.";
    ch_test_failed: "À corriger :", "To fix:";
    ch_test_sandbox: "Le bac à sable n'a aucun identifiant à vérifier.", "The sandbox has no credentials to check.";
    ch_test_twilio_ok: "Compte Twilio actif :", "Active Twilio account:";
    ch_test_token: "Jeton :", "Token:";
    ch_token_never: "n'expire jamais", "never expires";
    ch_token_expires: "expire le", "expires on";
    ch_token_days: "jours restants", "days left";
    ch_kind_temporary: "temporaire (24 h)", "temporary (24 h)";
    ch_kind_long_lived: "longue durée (60 jours)", "long-lived (60 days)";
    ch_kind_never: "utilisateur système, sans expiration", "system user, no expiry";
    ch_test_number: "Numéro :", "Number:";
    ch_quality: "qualité", "quality";
    ch_limit: "limite de conversations par 24 h", "conversations per 24 h limit";
    ch_unlimited: "illimitée", "unlimited";
    // A Meta number's access token: standing, rotation, rollback, exchange.
    tk_title: "Jeton d'accès Meta", "Meta access token";
    tk_standing: "État", "State";
    tk_unchecked: "pas encore vérifié", "not checked yet";
    tk_good: "valide", "valid";
    tk_expiring: "expire bientôt", "expires soon";
    tk_expired: "expiré : les messages de ce numéro attendent un nouveau jeton", "expired: this number's messages wait for a new token";
    tk_refused: "refusé par Meta : les messages de ce numéro attendent un nouveau jeton", "refused by Meta: this number's messages wait for a new token";
    tk_validated: "Dernière vérification", "Last checked";
    tk_never_checked: "jamais", "never";
    tk_previous_kept: "Le jeton précédent est gardé jusqu'à ce que le nouveau ait envoyé un message : vous pouvez y revenir.", "The previous token is kept until the new one has sent a message: you can go back to it.";
    tk_roll_back: "Revenir au jeton précédent", "Go back to the previous token";
    tk_rolled_back: "Le jeton précédent est de nouveau utilisé.", "The previous token is in use again.";
    tk_no_previous: "Aucun jeton précédent n'est gardé.", "No previous token is kept.";
    tk_rotate: "Remplacer le jeton", "Replace the token";
    tk_rotate_help: "Collez le nouveau jeton : il est vérifié auprès de Meta avant de remplacer l'ancien, qui reste utilisé s'il ne convient pas.", "Paste the new token: it is checked with Meta before it replaces the old one, which stays in use if it does not work.";
    tk_new_token: "Nouveau jeton", "New token";
    tk_rotated: "Nouveau jeton vérifié et en service.", "New token checked and in use.";
    tk_rotate_refused: "Le nouveau jeton n'a pas été enregistré, l'ancien reste en service :", "The new token was not saved, the old one stays in use:";
    tk_exchange: "Échanger contre un jeton de 60 jours", "Exchange for a 60-day token";
    tk_exchange_help: "Un jeton temporaire (24 h) s'échange, avant d'expirer, contre un jeton de 60 jours (avec l'App ID et l'app secret du numéro). Un jeton d'utilisateur système, sans expiration, est préférable en production.", "A temporary (24 h) token can be exchanged, before it expires, for a 60-day one (with the number's app ID and app secret). A system user token, which never expires, is better in production.";
    tk_exchanged: "Jeton échangé : le jeton de 60 jours est vérifié et en service.", "Token exchanged: the 60-day token is checked and in use.";
    tk_exchange_failed: "Meta a refusé l'échange (un jeton expiré ne s'échange plus ; vérifiez aussi l'App ID et l'app secret) :", "Meta refused the exchange (an expired token can no longer be exchanged; check the app ID and app secret too):";
    tk_check: "Vérifier maintenant", "Check now";
    tk_checked: "Jeton vérifié.", "Token checked.";
    tk_needs_app: "Renseignez l'App ID et l'app secret du numéro : ils servent à vérifier le jeton.", "Set the number's app ID and app secret: they are needed to check the token.";
    tk_use_rotation: "Ce numéro a déjà un jeton : remplacez-le dans « Jeton d'accès Meta », où il est vérifié avant de servir.", "This number already has a token: replace it under \"Meta access token\", where it is checked before use.";
    tk_not_meta: "Ce numéro n'est pas relié à Meta : choisissez d'abord Meta dans « Connexion à WhatsApp ».", "This number is not connected to Meta: choose Meta under \"Connection to WhatsApp\" first.";
    tk_provider_down: "Meta ne répond pas pour l'instant ; rien n'a changé. Réessayez dans quelques minutes.", "Meta is not answering right now; nothing changed. Try again in a few minutes.";
    timeout_invalid: "La durée doit être un nombre de minutes entre 1 et 10080.", "The timeout must be a number of minutes between 1 and 10080.";
    cities: "Villes (une par ligne : code à 2 lettres puis nom)", "Cities (one per line: 2-letter code then name)";
    cities_help: "Vide : la liste par défaut.", "Empty: the default list.";
    city_invalid: "Ligne de ville non comprise (il faut un code de 2 lettres puis le nom) :", "City line not understood (a 2-letter code then the name is needed):";
    bot_texts: "Textes du bot", "Bot texts";
    bot_texts_help: "Laissez un champ vide pour garder le texte par défaut, montré en gris.", "Leave a field empty to keep the default text, shown in grey.";

    // Simulator.
    simulator_pick: "Choisissez un numéro de bac à sable :", "Pick a sandbox number:";
    simulator_none: "Aucun numéro de bac à sable ne vous est accessible.", "No sandbox number is available to you.";
    simulator_help: "Écrivez au bot comme le ferait une personne. Vous écrivez depuis le numéro fictif", "Write to the bot as a person would. You are writing from the made-up number";
    simulator_placeholder: "Votre message", "Your message";
    simulator_reset: "Nouvelle personne (autre numéro fictif)", "New person (another made-up number)";
    simulator_empty: "Le message est vide.", "The message is empty.";
    simulator_after_invalid: "Numéro de message non valide.", "Invalid message number.";

    // Audit log.
    audit_when: "Quand (UTC)", "When (UTC)";
    audit_actor: "Qui", "Who";
    audit_action: "Action", "Action";
    audit_target: "Objet", "Target";
    audit_detail: "Détail", "Detail";
    audit_ip: "Adresse", "Address";
    audit_empty: "Aucune entrée.", "No entries.";

    // Tenants.
    tenant_new: "Nouvelle organisation", "New organisation";
    tenant_name: "Nom de l'organisation", "Organisation name";
    switch_to: "Travailler dans celle-ci", "Work in this one";
    sandbox_name: "Bac à sable", "Sandbox";

    // Privacy settings.
    privacy_title: "Confidentialité des données", "Data privacy";
    privacy_intro: "Ce que le serveur garde des conversations de cette organisation. Tant que le bot mène la conversation, rien de ce qui est écrit n'est gardé tel quel.", "What the server keeps of this organisation's conversations. While the bot has a conversation, nothing typed is kept as written.";
    keep_profile_names: "Garder les noms de profil WhatsApp", "Keep WhatsApp profile names";
    keep_profile_names_help: "Désactivé, les noms de profil ne sont pas enregistrés et ceux déjà enregistrés sont effacés.", "When off, profile names are not stored and those already stored are erased.";
    retention_days: "Durée de conservation des messages (jours)", "How long message text is kept (days)";
    retention_days_help: "Le texte des messages gardés tels quels (conversations confiées au personnel) est effacé après cette durée ; la date et le sens du message restent.", "The text of messages kept as written (conversations handed to staff) is erased after this time; the message's date and direction stay.";
    retention_days_invalid: "La durée de conservation doit être un nombre de jours entre 7 et 3650.", "The retention period must be a number of days between 7 and 3650.";

    // The inbox.
    nav_conversations: "Conversations", "Conversations";
    ago_now: "à l'instant", "just now";
    ago_minutes: "il y a {n} min", "{n} min ago";
    ago_hours: "il y a {n} h", "{n} h ago";
    ago_days: "il y a {n} j", "{n} d ago";
    mode_bot: "Bot", "Bot";
    mode_waiting: "En attente", "Waiting";
    mode_human: "Pris en main", "Taken over";
    reason_requested: "a demandé une personne", "asked for a person";
    reason_failed_answers: "réponses non comprises", "answers not understood";
    reason_media: "a envoyé un média", "sent media";
    reason_flagged: "signalée par l'équipe", "flagged by staff";
    conv_all_accounts: "Tous les numéros", "All numbers";
    conv_all_modes: "Tous les états", "All states";
    conv_mine: "Prises par moi", "Taken by me";
    conv_uic_any: "Avec ou sans CIU", "With or without a UIC";
    conv_uic_with: "Avec un CIU", "With a UIC";
    conv_uic_without: "Sans CIU", "Without a UIC";
    conv_search: "Code CIU", "UIC code";
    conv_search_phone: "Code CIU ou numéro", "UIC code or number";
    conv_col_number: "Numéro", "Number";
    conv_col_account: "Programme", "Programme";
    conv_col_mode: "État", "State";
    conv_col_last: "Dernier message", "Last message";
    conv_col_holder: "Pris par", "Taken by";
    conv_col_uic: "CIU", "UIC";
    conv_empty: "Aucune conversation ne correspond.", "No conversation matches.";
    conv_bad_filter: "Ce filtre n'est pas valide : choisissez-le dans la liste.", "This filter is not valid: pick it from the list.";
    live_bad_conversation: "Ce flux de mises à jour ne peut suivre qu'une conversation, désignée par son numéro : rouvrez la page de la conversation.", "This update stream follows one conversation, given by its number: open the conversation's page again.";
    conv_bad_search: "Tapez un code CIU (par exemple MBEIBR7DA1) ou un numéro de téléphone complet.", "Type a UIC code (for example MBEIBR7DA1) or a full phone number.";
    conv_no_phone_search: "Vous ne pouvez pas chercher par numéro de téléphone : cherchez par code CIU.", "You may not search by phone number: search by UIC code.";
    conv_take: "Prendre la main", "Take over";
    conv_release: "Rendre au bot", "Hand back to the bot";
    conv_release_resume: "Continuer où il s'est arrêté", "Continue where it stopped";
    conv_release_restart: "Recommencer les questions", "Start the questions again";
    conv_release_how: "Choisissez comment le bot reprend : continuer ou recommencer.", "Choose how the bot resumes: continue or start again.";
    conv_queue: "Mettre en attente", "Put in the queue";
    conv_taken: "Vous avez pris la main : le bot ne répond plus à cette personne.", "You took over: the bot no longer answers this person.";
    conv_queued: "La conversation est dans la file d'attente.", "The conversation is in the queue.";
    conv_released: "Le bot a repris la conversation.", "The bot has the conversation again.";
    conv_sent: "Message envoyé.", "Message sent.";
    conv_taken_by_other: "Un autre membre de l'équipe a déjà pris cette conversation.", "Another staff member has already taken this conversation.";
    conv_already_bot: "Le bot a déjà cette conversation.", "The bot already has this conversation.";
    conv_not_applicable: "Cette action ne s'applique pas à la conversation dans son état actuel.", "This action does not apply to the conversation as it stands.";
    conv_window_closed: "Plus de 24 heures depuis le dernier message de cette personne : WhatsApp refuse un message libre. Attendez qu'elle écrive à nouveau.", "More than 24 hours since this person's last message: WhatsApp refuses free text. Wait until they write again.";
    conv_text_empty: "Le message est vide.", "The message is empty.";
    conv_text_too_long: "Le message dépasse 4096 caractères, la limite de WhatsApp.", "The message is over 4,096 characters, WhatsApp's limit.";
    conv_held_by: "Pris par", "Taken by";
    conv_held_by_you: "Vous avez pris la main", "You have taken over";
    conv_waiting_since: "En attente depuis", "Waiting since";
    conv_composer: "Votre réponse", "Your reply";
    conv_composer_held: "Un autre membre de l'équipe a pris cette conversation : lui seul peut répondre.", "Another staff member holds this conversation: only they can reply.";
    conv_composer_takes: "Envoyer un message prend la main : le bot se tait.", "Sending a message takes over: the bot goes silent.";
    conv_progress: "Questions du bot", "Bot questions";
    conv_answers: "Réponses gardées (telles que le bot les garde)", "Answers kept (as the bot keeps them)";
    conv_older: "Messages plus anciens", "Older messages";
    conv_thread: "Messages, du plus récent au plus ancien", "Messages, newest first";
    window_left: "Fenêtre de 24 h : encore {h} h {m}", "24-hour window: {h} h {m} left";
    window_closed: "Fenêtre de 24 h fermée : la personne n'a pas écrit depuis plus de 24 heures. Un message libre serait refusé par WhatsApp.", "24-hour window closed: the person has not written for more than 24 hours. WhatsApp would refuse free text.";
    progress_not_started: "Pas encore commencé", "Not started";
    progress_question: "Question {n} sur 5", "Question {n} of 5";
    progress_done: "Code délivré", "Code issued";
    answer_last: "Nom", "Last name";
    answer_first: "Prénom", "First name";
    answer_year: "Année (dernier chiffre)", "Year (last digit)";
    answer_city: "Ville", "City";
    status_queued: "en file", "queued";
    status_sent: "envoyé", "sent";
    status_delivered: "remis ✓✓", "delivered ✓✓";
    status_read: "lu ✓✓", "read ✓✓";
    status_failed: "échec", "failed";
    msg_redacted: "contenu effacé", "content erased";
    who_contact: "Personne", "Person";
    who_bot: "Bot", "Bot";
    who_staff: "Équipe", "Staff";
    event_escalated: "Mise en attente :", "Put in the queue:";
    event_taken: "{who} a pris la main", "{who} took over";
    event_handed_back_resume: "{who} a rendu la main au bot (il continue)", "{who} handed back to the bot (it continues)";
    event_handed_back_restart: "{who} a rendu la main au bot (il recommence)", "{who} handed back to the bot (it starts again)";
    event_restarted: "La personne a recommencé avec le bot", "The person started again with the bot";
    event_nobody_available: "Personne n'a répondu à temps : la personne en a été informée", "Nobody answered in time: the person was told";
    codes_title: "CIU de cette personne", "This person's UICs";
    codes_none: "Aucun code délivré à ce numéro.", "No code issued to this number.";
    code_first: "Premier", "First";
    code_last: "Dernier", "Last";
    code_asked: "Demandé {n} fois par ce numéro", "Asked {n} times from this number";
    code_seen: "délivré {n} fois en tout", "issued {n} times in all";
    code_collision: "Collision possible : un autre numéro a reçu ce code", "Possible collision: another number received this code";
    code_test: "Donnée de test", "Test data";
    home_waiting: "Conversations en attente", "Waiting conversations";
    home_waiting_none: "Personne n'attend.", "Nobody is waiting.";
    home_oldest: "la plus ancienne", "oldest";
    home_mine: "Prises par moi", "Taken by me";
    home_see_queue: "Voir la file", "See the queue";

    // Numbers' health: the strip per number and the token banner.
    hb_title: "Santé des numéros", "Numbers' health";
    hb_all_well: "Tous les numéros vont bien.", "Every number is well.";
    hb_problems_only: "Seuls les numéros qui ont un problème sont montrés ici ; tous sont dans « Numéros WhatsApp ».", "Only the numbers with a problem are shown here; all are under \"WhatsApp numbers\".";
    hb_ok: "en bon état", "healthy";
    hb_problem: "problème", "problem";
    hb_token_good: "jeton valide", "token valid";
    hb_token_unchecked: "jeton pas encore vérifié", "token not checked yet";
    hb_token_expiring: "jeton : expire dans {n} j", "token: expires in {n} d";
    hb_token_expires_today: "jeton : expire aujourd'hui", "token: expires today";
    hb_token_expired: "jeton expiré", "token expired";
    hb_token_refused: "jeton refusé par Meta", "token refused by Meta";
    hb_quality: "qualité", "quality";
    hb_limit: "limite", "limit";
    hb_last_in: "dernier message reçu", "last message received";
    hb_never: "aucun", "none";
    hb_last_failure: "dernier échec d'envoi", "last delivery failure";
    hb_code: "code", "code";
    hb_outbox: "en attente d'envoi", "waiting to be sent";
    hb_held: "envois bloqués", "sends held";
    hb_banner_expiring: "Le jeton Meta du numéro «\u{a0}{name}\u{a0}» expire dans {n} jours.", "The Meta token of the number \"{name}\" expires in {n} days.";
    hb_banner_today: "Le jeton Meta du numéro «\u{a0}{name}\u{a0}» expire aujourd'hui.", "The Meta token of the number \"{name}\" expires today.";
    hb_banner_expired: "Le jeton Meta du numéro «\u{a0}{name}\u{a0}» a expiré : ses messages attendent un nouveau jeton.", "The Meta token of the number \"{name}\" has expired: its messages wait for a new token.";
    hb_banner_refused: "Meta refuse le jeton du numéro «\u{a0}{name}\u{a0}» : ses messages attendent un nouveau jeton.", "Meta refuses the token of the number \"{name}\": its messages wait for a new token.";
    hb_banner_act: "Remplacer le jeton", "Replace the token";
    hb_banner_incident: "Le numéro «\u{a0}{name}\u{a0}» a un problème : {facts}.", "The number \"{name}\" has a problem: {facts}.";
    hb_banner_see: "Voir", "See";
    hb_quality_red: "qualité RED chez Meta", "quality RED at Meta";

    // DHIS-2: the synchronisation page, a number's settings, the code card.
    nav_dhis2: "DHIS-2", "DHIS-2";
    d2_title: "Synchronisation DHIS-2", "DHIS-2 synchronisation";
    d2_number: "Numéro", "Number";
    d2_sync: "Envoi", "Sending";
    d2_on: "activé", "on";
    d2_off: "désactivé", "off";
    d2_not_configured: "non réglé", "not set up";
    d2_sandbox: "bac à sable : jamais envoyé", "sandbox: never sent";
    d2_configure: "Régler", "Set up";
    d2_version: "Version du serveur", "Server version";
    d2_unknown: "inconnue", "unknown";
    d2_oldest: "Plus ancien en attente", "Oldest pending";
    d2_since_minutes: "depuis {m} min", "for {m} min";
    d2_since_hours: "depuis {h} h {m}", "for {h} h {m}";
    d2_since_days: "depuis {d} j {h} h", "for {d} d {h} h";
    d2_last_success: "Dernier envoi réussi", "Last success";
    d2_never: "jamais", "never";
    d2_stopped: "Envoi arrêté pour « {name} » :", "Sending stopped for \"{name}\":";
    d2_stopped_since: "depuis le", "since";
    d2_no_numbers: "Aucun numéro.", "No number.";
    d2_failed_title: "Échecs", "Failed";
    d2_failed_help: "DHIS-2 a refusé ces enregistrements. Corrigez la cause (réglages, métadonnées) puis relancez-les.", "DHIS-2 refused these records. Fix the cause (settings, metadata), then retry them.";
    d2_failed_none: "Aucun échec.", "No failure.";
    d2_code: "Code (CIU)", "Code (UIC)";
    d2_error: "Erreur DHIS-2", "DHIS-2 error";
    d2_attempts: "Tentatives", "Attempts";
    d2_when: "Quand", "When";
    d2_retry: "Relancer", "Retry";
    d2_retry_all: "Tout relancer", "Retry all";
    d2_retried: "Envois relancés :", "Records retried:";
    d2_not_failed: "Cet envoi n'est pas (ou plus) en échec.", "This record has not failed (or no longer has).";
    d2_held_title: "Collisions possibles (retenues)", "Possible collisions (held)";
    d2_held_help: "Deux téléphones ont reçu le même code. S'il s'agit de la même personne, l'enregistrement part vers DHIS-2 ; sinon il reste retenu et la seconde personne a besoin de son propre code.", "Two phones received the same code. If it is the same person, the record goes to DHIS-2; otherwise it stays held and the second person needs a code of their own.";
    d2_held_none: "Aucun enregistrement retenu.", "No record held.";
    d2_same: "Même personne : envoyer", "Same person: send";
    d2_different: "Personnes différentes : retenir", "Different people: hold";
    d2_decided_different: "décidé : personnes différentes", "decided: different people";
    d2_decided: "Décision enregistrée.", "Decision recorded.";
    d2_bad_decision: "Décision inconnue : « same_person » ou « different_people ».", "Unknown decision: \"same_person\" or \"different_people\".";
    d2_not_held: "Cet enregistrement n'est pas (ou plus) retenu.", "This record is not (or no longer) held.";
    d2_bad_part: "Partie de page inconnue.", "Unknown part of the page.";
    d2_settings_title: "DHIS-2", "DHIS-2";
    d2_settings_help: "Les CIU délivrés sur ce numéro sont envoyés à DHIS-2 (Tracker) avec ces réglages.", "The UICs issued on this number are sent to DHIS-2 (Tracker) with these settings.";
    d2_enabled: "Envoyer les CIU de ce numéro à DHIS-2", "Send this number's UICs to DHIS-2";
    d2_auth_token: "Jeton d'accès personnel (d2pat_…)", "Personal access token (d2pat_…)";
    d2_auth_basic: "Nom d'utilisateur et mot de passe", "User name and password";
    d2_credential_set: "enregistré, se termine par", "set, ends with";
    d2_credential_unset: "non renseigné", "not set";
    d2_credential_keep: "Laissez vide pour garder l'identifiant enregistré.", "Leave empty to keep the stored credential.";
    d2_map_help: "Une entrée par ligne : code de ville à deux lettres = unité d'organisation, par exemple KI=DiszpKrYNg8.", "One entry a line: two-letter city code = org unit, e.g. KI=DiszpKrYNg8.";
    d2_attributes: "Attributs des entités suivies", "Tracked entity attributes";
    d2_saved: "Réglages DHIS-2 enregistrés.", "DHIS-2 settings saved.";
    d2_test: "Tester la connexion", "Test the connection";
    d2_test_ok: "Connexion et réglages bons.", "Connection and settings good.";
    d2_test_failed: "À corriger :", "To fix:";
    d2_not_saved: "Réglages DHIS-2 non enregistrés : voyez les champs signalés.", "DHIS-2 settings not saved: see the fields marked.";
    d2_too_long: "trop long.", "too long.";
    d2_read_only: "Seuls ceux qui ont la permission « Régler DHIS-2 » peuvent changer ces réglages.", "Only those with the \"Configure DHIS-2\" permission may change these settings.";
    d2_see_page: "Voir la synchronisation", "See the synchronisation";
    d2_linked: "lié", "linked";
    d2_tracked_entity: "entité suivie", "tracked entity";
}
