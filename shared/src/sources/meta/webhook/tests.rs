use super::*;

fn events(body: &str) -> (Channel, Vec<MetaEvent>, Vec<String>) {
    let Batch::Items { channel, items } = parse(body.as_bytes()).unwrap() else {
        panic!("not a page/instagram batch");
    };
    let mut events = Vec::new();
    let mut unknown = Vec::new();
    for item in items {
        match item {
            Item::Event { event, raw } => {
                assert!(raw.starts_with('{') && raw.ends_with('}'), "{raw}");
                events.push(event);
            }
            Item::Unknown { kind } => unknown.push(kind),
        }
    }
    (channel, events, unknown)
}

#[test]
fn every_entry_and_every_messaging_and_standby_item_is_an_event() {
    let body = r#"{"object":"page","entry":[
        {"id":"101","time":1,"messaging":[
            {"sender":{"id":"9001"},"recipient":{"id":"101"},"timestamp":1000,"message":{"mid":"m_1","text":"hi","quick_reply":{"payload":"+14155550100"}}},
            {"sender":{"id":"9002"},"recipient":{"id":"101"},"timestamp":1001,"delivery":{"mids":["m_0"],"watermark":999}}
        ]},
        {"id":"101","time":2,"standby":[
            {"sender":{"id":"101"},"recipient":{"id":"9003"},"timestamp":1002,"message":{"mid":"m_2","text":"from the inbox","is_echo":true,"app_id":1}}
        ]}
    ]}"#;
    let (channel, events, unknown) = events(body);
    assert_eq!(channel, Channel::Messenger);
    assert!(unknown.is_empty());
    assert_eq!(events.len(), 3);
    let EventKind::Message(m) = &events[0].kind else {
        panic!()
    };
    assert_eq!(
        (m.mid.as_str(), m.quick_reply.as_deref()),
        ("m_1", Some("+14155550100"))
    );
    assert_eq!(events[0].user_id, "9001");
    assert_eq!(events[1].kind.name(), "delivery");
    // The echo's contact is the recipient; it came on standby.
    assert_eq!(
        (events[2].user_id.as_str(), events[2].standby),
        ("9003", true)
    );
    assert_eq!(events[2].kind.name(), "echo");
}

#[test]
fn instagram_unsend_edit_reaction_seen_and_postback() {
    let body = r#"{"object":"instagram","entry":[{"id":"17841","time":1,"messaging":[
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":5,"message":{"mid":"m_9","is_deleted":true}},
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":6,"message_edit":{"mid":"m_8","text":"fixed","num_edit":2}},
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":7,"reaction":{"mid":"m_8","action":"react","reaction":"love","emoji":"\u2764"}},
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":8,"read":{"mid":"m_8"}},
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":9,"postback":{"mid":"m_7","title":"Get Started","payload":"START"}},
        {"sender":{"id":"8001"},"recipient":{"id":"17841"},"timestamp":10,"game_play":{"game_id":"g"}},
        {"recipient":{"id":"17841"},"timestamp":11,"optin":{"type":"one_time_notif_req","user_ref":"r"}}
    ]}]}"#;
    let (channel, events, unknown) = events(body);
    assert_eq!(channel, Channel::Instagram);
    let names: Vec<_> = events.iter().map(|e| e.kind.name()).collect();
    assert_eq!(
        names,
        ["unsend", "message_edit", "reaction", "read", "postback"]
    );
    assert_eq!(
        events[3].kind,
        EventKind::Read { watermark: 8 },
        "a read without watermark is as of its timestamp"
    );
    assert_eq!(unknown, ["game_play", "optin"]);
    assert!(
        events
            .iter()
            .all(|e| e.account_id == "17841" && e.user_id == "8001")
    );
}

#[test]
fn other_objects_and_malformed_bodies() {
    assert!(matches!(
        parse(br#"{"object":"whatsapp_business_account","entry":[]}"#).unwrap(),
        Batch::OtherObject(o) if o == "whatsapp_business_account"
    ));
    for bad in [&b"not json"[..], b"[]", br#"{"entry":[]}"#, b"\xff\xfe"] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    // A broken item is one unknown item, not a failed POST.
    let (_, events, unknown) = events(
        r#"{"object":"page","entry":[{"id":"100","messaging":[{"sender":{"id":"9000"},"message":{"text":"no mid"}},{"sender":{"id":"9000"},"timestamp":3,"message":{"mid":"m"}}]}]}"#,
    );
    assert_eq!(
        (events.len(), unknown.as_slice()),
        (1, &["unreadable".to_string()][..])
    );
}

#[test]
fn non_ascii_text_in_meta_escaped_form_reads_back_as_text() {
    let body = r#"{"object":"page","entry":[{"id":"100","messaging":[{"sender":{"id":"9000"},"timestamp":3,"message":{"mid":"m","text":"Gr\u00fc\u00dfe \ud83d\udc4b"}}]}]}"#;
    let Batch::Items { items, .. } = parse(body.as_bytes()).unwrap() else {
        panic!()
    };
    let Item::Event { event, raw } = &items[0] else {
        panic!()
    };
    let EventKind::Message(m) = &event.kind else {
        panic!()
    };
    assert_eq!(m.text.as_deref(), Some("Grüße 👋"));
    assert!(
        raw.contains(r"Gr\u00fc\u00dfe"),
        "the raw item is kept as sent"
    );
}

#[test]
fn message_text_with_characters_sqs_refuses_or_a_lone_surrogate_is_still_an_event() {
    // GIVEN U+FFFF and U+FFFE as escapes and as raw characters, and an emoji cut in half.
    let body = "{\"object\":\"page\",\"entry\":[{\"id\":\"101\",\"time\":1,\"messaging\":[\
        {\"sender\":{\"id\":\"9001\"},\"recipient\":{\"id\":\"101\"},\"timestamp\":1,\"message\":{\"mid\":\"m_1\",\"text\":\"a\\uFFFFb\u{FFFE}c\"}},\
        {\"sender\":{\"id\":\"9002\"},\"recipient\":{\"id\":\"101\"},\"timestamp\":2,\"message\":{\"mid\":\"m_2\",\"text\":\"cut \\uD83D here\"}}\
    ]}]}";
    let (_, events, unknown) = events(body);
    assert!(unknown.is_empty(), "{unknown:?}");
    let texts: Vec<_> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Message(m) => m.text.clone().unwrap_or_default(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(texts, ["a\u{FFFF}b\u{FFFE}c", "cut \u{FFFD} here"]);
}
