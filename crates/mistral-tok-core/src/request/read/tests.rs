//! The rules [`super::read`] applies to what a caller gave.

use super::*;
use crate::chat::{GivenRequest, Readings};
use crate::request::given::{Given, Key, MapKind, Opaque, SeqKind, Text, Wtf8};
use crate::value::{Int, SharedText, Value};

fn read_as(given: &Given, what: &str) -> Result<Value> {
    read(given, what, Spelling::PLANE_A, &mut Met::default())
}

fn request_error(r: Result<Value>) -> String {
    match r {
        Err(Error::Request(m)) => m,
        other => panic!("expected a request error, got {other:?}"),
    }
}

fn user(content: Given) -> Given {
    Given::dict([("role", Given::str("user")), ("content", content)])
}

#[test]
fn tuples_are_lists_except_for_content_and_tool_calls() {
    let tuple = Given::Seq(SeqKind::Tuple, vec![Given::int(1)]);
    assert_eq!(
        read_as(&Given::list(vec![tuple.clone()]), "messages").unwrap(),
        Value::List(vec![Value::List(vec![Value::Int(Int::Small(1))])])
    );
    let m = request_error(read_as(&Given::list(vec![user(tuple.clone())]), "messages"));
    assert!(
        m.starts_with("Unknown content type: <class 'tuple'>"),
        "{m}"
    );
    let calls = Given::dict([
        ("role", Given::str("assistant")),
        ("tool_calls", tuple.clone()),
    ]);
    let m = request_error(read_as(&Given::list(vec![calls]), "messages"));
    assert_eq!(m, "tool_calls must be a list, got <class 'tuple'>");
    // only in messages, and only on the message itself
    let nested = Given::dict([("content", tuple.clone())]);
    assert!(read_as(&Given::list(vec![nested.clone()]), "tools").is_ok());
    assert!(read_as(
        &Given::list(vec![user(Given::list(vec![nested]))]),
        "messages"
    )
    .is_ok());
}

#[test]
fn keys_are_written_as_json_dumps_writes_them() {
    let d = Given::Map(
        MapKind::Dict,
        vec![
            (Key::Null, Given::int(0)),
            (Key::Bool(true), Given::int(1)),
            (Key::Int(Int::Small(-3)), Given::int(2)),
            (Key::Float(1.5), Given::int(3)),
            (Key::Str(Text::from("s")), Given::int(4)),
        ],
    );
    let Value::Dict(items) = read_as(&d, "x").unwrap() else {
        panic!("not a dict")
    };
    let keys: Vec<&str> = items.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["null", "true", "-3", "1.5", "s"]);
    let other = Given::Map(
        MapKind::Dict,
        vec![(Key::Other("tuple".into()), Given::Null)],
    );
    let m = request_error(read_as(&Given::list(vec![other]), "x"));
    assert_eq!(
        m,
        "x (at nesting depth 2): keys must be str, int, float, bool or None, not tuple"
    );
}

#[test]
fn tool_parameters_and_response_schemas_take_str_keys_at_their_top() {
    let int_keyed = || Given::Map(MapKind::Dict, vec![(Key::Int(Int::Small(1)), Given::Null)]);
    let tool = |parameters: Given| {
        Given::list(vec![Given::dict([(
            "function",
            Given::dict([("name", Given::str("f")), ("parameters", parameters)]),
        )])])
    };
    let m = request_error(read_as(&tool(int_keyed()), "tools"));
    assert!(
        m.contains("the keys of this dict[str, Any] must be str"),
        "{m}"
    );
    // one level down, json.dumps converts them
    let nested = Given::dict([("properties", int_keyed())]);
    assert!(read_as(&tool(nested), "tools").is_ok());
    for key in ["schema", "custom_schema"] {
        let rf = Given::dict([("json_schema", Given::dict([(key, int_keyed())]))]);
        assert!(request_error(read_as(&rf, "response_format")).contains("must be str"));
    }
    // other fields convert them
    let rf = Given::dict([("json_schema", Given::dict([("other", int_keyed())]))]);
    assert!(read_as(&rf, "response_format").is_ok());
}

fn opaque(type_name: &str, float: Option<f64>, integer: Option<i64>) -> Opaque {
    Opaque {
        type_name: type_name.into(),
        model_dump: false,
        index: None,
        float,
        integer: integer.map(Int::Small),
    }
}

#[test]
fn objects_of_other_types_and_bytes_are_kept_for_the_request_model() {
    let decimal = Given::Opaque(opaque("Decimal", Some(0.5), None));
    assert!(matches!(
        read_as(&decimal, "temperature"),
        Ok(Value::Opaque(_))
    ));
    let bytes = Given::Bytes {
        data: b"x".to_vec(),
        mutable: false,
    };
    assert_eq!(
        read_as(&bytes, "model").unwrap(),
        Value::Bytes {
            data: b"x".to_vec(),
            mutable: false
        }
    );
}

#[test]
fn iterables_are_read_only_where_mistral_common_iterates() {
    let gen = Given::Seq(SeqKind::Iterated, vec![user(Given::str("a"))]);
    assert!(read_as(&gen, "messages").is_ok());
    assert!(read_as(&Given::list(vec![gen.clone()]), "messages").is_err());
    assert!(read_as(&gen, "model").is_err());
}

#[test]
fn arguments_take_a_dict_not_another_mapping() {
    let call = |arguments: Given| {
        Given::list(vec![Given::dict([
            ("role", Given::str("assistant")),
            (
                "tool_calls",
                Given::list(vec![Given::dict([(
                    "function",
                    Given::dict([("name", Given::str("f")), ("arguments", arguments)]),
                )])]),
            ),
        ])])
    };
    let proxy = Given::Map(MapKind::Other, vec![]);
    let m = request_error(read_as(&call(proxy.clone()), "messages"));
    assert!(m.ends_with("Input should be a valid string"), "{m}");
    assert!(read_as(&call(Given::dict::<&str>([])), "messages").is_ok());
    // elsewhere a mapping is a dict
    assert!(read_as(&Given::list(vec![proxy]), "messages").is_ok());
}

#[test]
fn depth_beyond_the_limit_is_refused() {
    let mut deep = Given::TooDeep;
    for _ in 0..MAX_DEPTH {
        deep = Given::list(vec![deep]);
    }
    let m = request_error(read_as(&deep, "messages"));
    assert!(
        m.starts_with("messages is nested deeper than 1000 levels"),
        "{m}"
    );
    let mut ok = Given::Null;
    for _ in 0..MAX_DEPTH {
        ok = Given::list(vec![ok]);
    }
    assert!(read_as(&ok, "messages").is_ok());
}

#[test]
fn lone_surrogates_are_spelled_as_asked() {
    // 'a', a lone high surrogate, then a pair written as two code points, then a lone low one
    let w = Wtf8::from_code_points([0x61, 0xD800, 0xD83D, 0xDE00, 0xDC00]);
    assert_eq!(
        Spelling::PLANE_A.spell(&w),
        "a\u{F0000}\u{F003D}\u{F0600}\u{F0400}"
    );
    assert_eq!(
        Spelling::PLANE_B.spell(&w),
        "a\u{100000}\u{10003D}\u{100600}\u{100400}"
    );
    assert_eq!(Spelling::Repair.spell(&w), "a\u{FFFD}\u{1F600}\u{FFFD}");
    let code_points: Vec<u32> = w.code_points().collect();
    assert_eq!(code_points, [0x61, 0xD800, 0xD83D, 0xDE00, 0xDC00]);
    let mut met = Met::default();
    let v = read(&Given::Str(Text::Wtf8(w)), "x", Spelling::Repair, &mut met).unwrap();
    assert_eq!(v, Value::Str("a\u{FFFD}\u{1F600}\u{FFFD}".into()));
    // a low surrogate last, a high one first: no half of a pair at an edge
    assert!(met.surrogates && !met.surrogates_at_edge);
    for edge in [[0xDC00, 0x61], [0x61, 0xDBFF]] {
        let mut met = Met::default();
        let w = Wtf8::from_code_points(edge);
        read(&Given::Str(Text::Wtf8(w)), "x", Spelling::Repair, &mut met).unwrap();
        assert!(met.surrogates && met.surrogates_at_edge);
    }
}

#[test]
fn lent_text_stays_lent_only_where_an_image_url_is_read() {
    let lent = || Given::Str(Text::Lent(SharedText::from("data:image/png;base64,AAAA")));
    let chunk = |iu: Given| Given::dict([("type", Given::str("image_url")), ("image_url", iu)]);
    for iu in [lent(), Given::dict([("url", lent())])] {
        let messages = Given::list(vec![user(Given::list(vec![chunk(iu)]))]);
        let v = read_as(&messages, "messages").unwrap();
        let found = v.get_path(&["0", "content", "0", "image_url"]).unwrap();
        let url = found.get("url").unwrap_or(found);
        assert!(matches!(url, Value::Lent(_)), "{url:?}");
    }
    let text = Given::list(vec![user(lent())]);
    let v = read_as(&text, "messages").unwrap();
    assert!(matches!(v.get_path(&["0", "content"]), Some(Value::Str(_))));
}

#[test]
fn max_model_input_len_keeps_what_the_arithmetic_makes_of_it() {
    let big = |d: &str| Given::Int {
        value: Int::Big(d.into()),
        subclass: None,
    };
    assert_eq!(max_model_input_len(&Given::Null).unwrap(), None);
    assert_eq!(max_model_input_len(&Given::int(7)).unwrap(), Some(7));
    assert_eq!(max_model_input_len(&Given::Float(7.9)).unwrap(), Some(7));
    assert_eq!(
        max_model_input_len(&Given::Float(f64::NAN)).unwrap(),
        Some(i64::MAX)
    );
    assert_eq!(
        max_model_input_len(&Given::Float(f64::NEG_INFINITY)).unwrap(),
        Some(i64::MIN)
    );
    assert_eq!(
        max_model_input_len(&big("99999999999999999999")).unwrap(),
        Some(i64::MAX)
    );
    assert_eq!(
        max_model_input_len(&big("-99999999999999999999")).unwrap(),
        Some(i64::MIN)
    );
    let numpy_int = Given::Opaque(Opaque {
        index: Some(Int::Small(5)),
        ..opaque("int64", Some(5.0), Some(5))
    });
    assert_eq!(max_model_input_len(&numpy_int).unwrap(), Some(5));
    assert!(matches!(
        max_model_input_len(&Given::str("5")),
        Err(Error::ArgumentType(m)) if m == "max_model_input_len must be an int or None, not str"
    ));
}

#[test]
fn a_request_is_read_once_unless_a_str_has_lone_surrogates() {
    let text = |t: Text| Given::list(vec![user(Given::Str(t))]);
    let plain = Readings::read(&GivenRequest::new(text(Text::from("hi")))).unwrap();
    assert!(plain.lone_surrogates.is_none());
    let w = Wtf8::from_code_points([0x68, 0xDC00, 0x69]);
    let r = Readings::read(&GivenRequest::new(text(Text::Wtf8(w)))).unwrap();
    let alt = r.lone_surrogates.as_ref().unwrap();
    let content = |v: &Value| v.get_path(&["0", "content"]).cloned();
    assert_eq!(
        content(&r.request.messages),
        Some(Value::Str("h\u{F0400}i".into()))
    );
    assert_eq!(
        content(&alt.respelled.messages),
        Some(Value::Str("h\u{100400}i".into()))
    );
    assert_eq!(
        content(&alt.repaired.messages),
        Some(Value::Str("h\u{FFFD}i".into()))
    );
    assert!(!alt.at_edge);
    assert!(matches!(r.into_single(), Err(Error::Unsupported(_))));
}

#[test]
fn continue_final_message_is_a_lax_bool_and_none_is_refused() {
    let mut given = GivenRequest::new(Given::list(vec![Given::dict([
        ("role", Given::str("assistant")),
        ("content", Given::str("x")),
    ])]));
    given.continue_final_message = Some(Given::str("yes"));
    let r = Readings::read(&given).unwrap();
    assert!(r.request.continue_final_message);
    given.continue_final_message = Some(Given::Null);
    assert!(Readings::read(&given).is_err());
    // the field of the same name is the keyword's, not a request field
    given.continue_final_message = None;
    given.fields = vec![("continue_final_message".into(), Given::Bool(true))];
    assert!(Readings::read(&given).unwrap().request.fields.is_empty());
}

#[test]
fn schema_regexes_follow_the_recorded_verdicts() {
    use crate::request::regex::{may_be_regex, RegexVerdicts};
    use crate::request::schema::check_draft7;
    let schema = |p: &str| {
        Value::Dict(vec![(
            "properties".into(),
            Value::Dict(vec![(
                "u".into(),
                Value::Dict(vec![("pattern".into(), Value::Str(p.into()))]),
            )]),
        )])
    };
    let pattern_keys = |p: &str| {
        Value::Dict(vec![(
            "patternProperties".into(),
            Value::Dict(vec![(p.into(), Value::Dict(vec![]))]),
        )])
    };
    // Without a verdict, the native syntax check decides.
    let none = RegexVerdicts::default();
    assert!(check_draft7(&schema("a**"), &none).is_err());
    assert!(check_draft7(&schema("a+"), &none).is_ok());
    // A host's verdicts (stubs here) override it both ways: Python 3.10 refuses `a?+`, and a
    // bad range the native check misses is refused by `re`.
    let mut stub = RegexVerdicts::default();
    stub.record("a?+", Some("multiple repeat at position 2".into()));
    stub.record(
        "[\\w-.]",
        Some("bad character range \\w-. at position 1".into()),
    );
    stub.record("a**", None);
    for make in [schema, pattern_keys] {
        let e = check_draft7(&make("a?+"), &stub).unwrap_err();
        assert_eq!(e, "'a?+' is not a 'regex' (multiple repeat at position 2)");
        assert!(check_draft7(&make("[\\w-.]"), &stub).is_err());
        assert!(check_draft7(&make("a**"), &stub).is_ok());
    }
    assert!(may_be_regex("tools", None, Some("pattern")));
    assert!(may_be_regex(
        "response_format",
        Some("patternProperties"),
        None
    ));
    assert!(!may_be_regex("messages", None, Some("pattern")));
    assert!(!may_be_regex("tools", Some("properties"), None));
}

/// An `IntEnum` member, as the host records it: its int, and `str(member.value)`.
fn int_member(i: i64) -> Given {
    Given::Member {
        text: Text::from(i.to_string()),
        value: Box::new(Given::Int {
            value: Int::Small(i),
            subclass: Some("Color".into()),
        }),
    }
}

#[test]
fn enum_members_are_their_text_in_str_fields_and_their_value_elsewhere() {
    use crate::request::instruct::{Chunk, Content};
    use crate::request::parse::parse_request;
    let call = Given::dict([
        ("id", Given::str("abcdefghi")),
        ("type", Given::str("function")),
        (
            "function",
            Given::dict([
                ("name", Given::str("f")),
                ("arguments", Given::dict([("a", int_member(2))])),
            ]),
        ),
    ]);
    let messages = Given::list(vec![
        user(Given::list(vec![Given::dict([
            ("type", Given::str("text")),
            ("text", int_member(1)),
        ])])),
        Given::dict([
            ("role", Given::str("assistant")),
            ("tool_calls", Given::list(vec![call])),
        ]),
    ]);
    let read = read_as(&messages, "messages").unwrap();
    // json.dumps writes the member inside arguments as its int
    assert_eq!(
        read.get_path(&["1", "tool_calls", "0", "function", "arguments", "a"]),
        Some(&Value::Int(Int::Small(2)))
    );
    // the whole tool's parameters: what jsonschema reads is the int
    let tools = Given::list(vec![Given::dict([
        ("type", Given::str("function")),
        (
            "function",
            Given::dict([
                ("name", Given::str("f")),
                ("parameters", Given::dict([("default", int_member(3))])),
            ]),
        ),
    ])]);
    assert_eq!(
        read_as(&tools, "tools")
            .unwrap()
            .get_path(&["0", "function", "parameters", "default"]),
        Some(&Value::Int(Int::Small(3)))
    );
    let verdicts = Default::default();
    let fields = |name: &str, v: Given| vec![(name.to_string(), read_as(&v, name).unwrap())];
    let r = parse_request(
        &read,
        None,
        &fields("temperature", int_member(1)),
        false,
        &verdicts,
    )
    .unwrap();
    assert_eq!(
        r.messages[0].content(),
        Some(&Content::Chunks(vec![Chunk::Text("1".into())]))
    );
    // a plain int in a str field is refused; a member's text is read as any str
    let plain = Given::list(vec![user(Given::list(vec![Given::dict([
        ("type", Given::str("text")),
        ("text", Given::int(1)),
    ])]))]);
    let plain = read_as(&plain, "messages").unwrap();
    assert!(parse_request(&plain, None, &[], false, &verdicts).is_err());
    let model = parse_request(
        &read,
        None,
        &fields("model", int_member(7)),
        false,
        &verdicts,
    )
    .unwrap();
    assert_eq!(model.model.as_deref(), Some("7"));
    // a number field reads the value, not the text
    assert!(parse_request(
        &read,
        None,
        &fields("max_tokens", int_member(-1)),
        false,
        &verdicts
    )
    .is_err());
}
