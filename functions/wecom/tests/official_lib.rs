//! inlet against wechatpy's enterprise crypto (`wechatpy.enterprise.crypto.
//! WeChatCrypto`, installed by `make tools`), in both directions, through
//! `tests/wechatpy_check.py`:
//!
//! - `inlet_and_wechatpy_agree_on_samples_and_forgeries`: the requests
//!   inlet's samples make, the public vector, WeCom's documented event
//!   shapes (customer-service events without `FromUserName` included), and
//!   forgeries made from them, judged by both (wechatpy decrypts, then
//!   `parse_message` reads the message); for every message both accept,
//!   inlet's payload equals xmltodict's parse of what wechatpy decrypted.
//!   Where inlet deliberately differs, the case names the difference and
//!   says why.
//! - `messages_sealed_by_wechatpy_are_accepted_by_inlet`: messages and
//!   echostrs sealed and signed by wechatpy (random prefix, its own
//!   formatting) are accepted by inlet, and a changed signature is not.

use std::collections::HashMap;
use std::path::Path;

use common::{VECTOR_ECHOSTR, VECTOR_TIMESTAMP, vector_request};
use http::{Method, StatusCode};
use inlet_shared::ingress::{IncomingRequest, Reply};
use inlet_shared::queue::MemoryPublisher;
use inlet_shared::samples::{Samples, dev_settings};
use inlet_testkit::crosscheck::Expect::{self, BothAccept, BothRefuse, InletLenient, InletStricter};
use inlet_testkit::crosscheck::{Runtime, Verdicts, reply_text, run_library, with_body};
use inlet_testkit::samples::{dev_settings_with, handle_with};
use serde_json::{Value, json};
use wecom::WecomFunction;
use wecom::crypto::seal_padded;
use wecom::samples::{WecomApp, contact_event, outer_body, text_message};

mod common;
mod documented;

const NOW: i64 = 1_700_000_000;

/// One app: its settings as inlet reads them and as wechatpy is built.
struct App {
    env: HashMap<String, String>,
    sealer: WecomApp,
}

impl App {
    fn dev() -> Self {
        Self::from(dev_settings())
    }

    /// The public vector's app (docs/contributing/testing.md, "Public test vectors").
    fn vector() -> Self {
        Self::from(dev_settings_with(&[
            ("WECOM_TOKEN", "QDG6eK"),
            ("WECOM_ENCODING_AES_KEY", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"),
            ("WECOM_CORP_ID", "wx5823bf96d3bd56c7"),
        ]))
    }

    fn from(env: HashMap<String, String>) -> Self {
        let sealer = WecomApp::from_env(&env).expect("WeCom settings");
        App { env, sealer }
    }

    fn json(&self) -> Value {
        json!({
            "token": self.env["WECOM_TOKEN"],
            "encoding_aes_key": self.env["WECOM_ENCODING_AES_KEY"],
            "corp_id": self.env["WECOM_CORP_ID"],
        })
    }

    fn sample(&self, name: &str, timestamp: i64, unique: &str) -> IncomingRequest {
        WecomFunction::sample(name, &self.env, timestamp, unique).expect("sample").to_incoming()
    }

    /// A POST whose `<Encrypt>` is `ciphertext`, validly signed over it.
    fn signed(&self, ciphertext: &str) -> IncomingRequest {
        post(&self.sealer.signed_path(NOW, "777", ciphertext), outer_body(&self.sealer.corp_id, ciphertext, "1"))
    }
}

fn post(path_and_query: &str, body: String) -> IncomingRequest {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let mut request = IncomingRequest::new(Method::POST, path, body);
    request.set_raw_query(query);
    request
}

fn with_query(mut request: IncomingRequest, name: &str, value: &str) -> IncomingRequest {
    request.query.insert(name.into(), value.into());
    request
}

struct Case {
    name: String,
    app: App,
    request: IncomingRequest,
    /// inlet's clock for this case.
    now: i64,
    expect: Expect,
    /// How inlet refuses it, if it does: the uniform 401 before the message
    /// is open, 400 for a genuine message it cannot read.
    refusal: StatusCode,
}

fn case(name: impl Into<String>, app: App, request: IncomingRequest, expect: Expect) -> Case {
    Case { name: name.into(), app, request, now: NOW, expect, refusal: StatusCode::UNAUTHORIZED }
}

/// A GET made of a captured POST: its query (the signature covers the same
/// four strings) with its `<Encrypt>` as `echostr`.
fn captured_as_url_check(post: &IncomingRequest) -> IncomingRequest {
    let outer = wecom::xml::parse(std::str::from_utf8(&post.body).expect("UTF-8")).expect("outer XML");
    let mut get = IncomingRequest::new(Method::GET, "/wecom/callback", "");
    get.query = post.query.clone();
    get.query.insert("echostr".into(), outer.value["Encrypt"].as_str().expect("Encrypt").to_string());
    get
}

fn case_json(case: &Case) -> Value {
    json!({
        "name": case.name,
        "app": case.app.json(),
        "method": case.request.method.as_str(),
        "query": case.request.query,
        "body": String::from_utf8_lossy(&case.request.body),
    })
}

fn wechatpy(input: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wechatpy_check.py");
    run_library(Runtime::VenvPython, &script, input, "library", "wechatpy ")
}

async fn inlet(app: &App, request: &IncomingRequest, now: i64) -> (Reply, MemoryPublisher) {
    handle_with::<WecomFunction>(&app.env, request, now).await
}

#[tokio::test]
async fn inlet_and_wechatpy_agree_on_samples_and_forgeries() {
    let dev = App::dev;
    let message = dev().sample("wecom-text-message", NOW, "lib");
    let echo = dev().sample("wecom-url-verification", NOW, "lib");
    let forged_settings =
        inlet_testkit::conformance::forge(&dev_settings(), &["WECOM_TOKEN", "WECOM_ENCODING_AES_KEY"]);
    let forged = App::from(forged_settings);
    let signature = message.query["msg_signature"].clone();
    let mut tampered = message.clone();
    let body = String::from_utf8(message.body.clone()).expect("UTF-8");
    tampered.body = body.replacen("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA", 1).into_bytes();
    let app = dev();
    let other_key =
        wecom::crypto::decode_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").expect("43 characters");
    let text = text_message(&app.sealer.corp_id, NOW, "uneven", "hi");
    // Valid layout with every pad byte but the last one wrong.
    let uneven_padding = {
        let mut plain = b"0123456789abcdef".to_vec();
        plain.extend_from_slice(&(text.len() as u32).to_be_bytes());
        plain.extend_from_slice(text.as_bytes());
        plain.extend_from_slice(app.sealer.corp_id.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.extend(std::iter::repeat_n(0xee, pad - 1));
        plain.push(pad as u8);
        seal_padded(&app.sealer.key, &plain)
    };

    let mut cases = vec![
        case("sample wecom-url-verification", dev(), echo.clone(), BothAccept),
        case("sample wecom-text-message", dev(), message.clone(), BothAccept),
        case("sample wecom-event", dev(), dev().sample("wecom-event", NOW, "lib"), BothAccept),
        Case {
            now: VECTOR_TIMESTAMP,
            ..case("public vector", App::vector(), vector_request(VECTOR_ECHOSTR), BothAccept)
        },
        // Forgeries.
        case(
            "signed and sealed with other secrets",
            dev(),
            forged.sample("wecom-text-message", NOW, "lib"),
            BothRefuse,
        ),
        case("URL check with other secrets", dev(), forged.sample("wecom-url-verification", NOW, "lib"), BothRefuse),
        case("ciphertext changed after signing", dev(), tampered, BothRefuse),
        case("nonce changed", dev(), with_query(message.clone(), "nonce", "1"), BothRefuse),
        case("timestamp changed", dev(), with_query(message.clone(), "timestamp", &(NOW + 1).to_string()), BothRefuse),
        case(
            "signature in upper case",
            dev(),
            with_query(message.clone(), "msg_signature", &signature.to_uppercase()),
            BothRefuse,
        ),
        case("signature of zeros", dev(), with_query(message.clone(), "msg_signature", &"0".repeat(40)), BothRefuse),
        case("echostr changed", dev(), with_query(echo.clone(), "echostr", "AAAA"), BothRefuse),
        case(
            "signed, sealed for another CorpID",
            dev(),
            app.signed(&wecom::crypto::seal(&app.sealer.key, [1; 16], text.as_bytes(), "wwanothercorp")),
            BothRefuse,
        ),
        case(
            "signed, sealed with another key",
            dev(),
            app.signed(&wecom::crypto::seal(&other_key, [1; 16], text.as_bytes(), &app.sealer.corp_id)),
            BothRefuse,
        ),
        case(
            "signed, body without Encrypt",
            dev(),
            post(&app.sealer.signed_path(NOW, "777", ""), "<xml><ToUserName>x</ToUserName></xml>".into()),
            BothRefuse,
        ),
        // Deliberate differences.
        case(
            "signed an hour ago",
            dev(),
            dev().sample("wecom-text-message", NOW - 3600, "lib"),
            InletStricter("wechatpy checks no time; WeCom signs the timestamp, inlet refuses replays outside ±300 s"),
        ),
        case(
            "URL check signed an hour ahead",
            dev(),
            dev().sample("wecom-url-verification", NOW + 3600, "lib"),
            InletStricter("the same window applies to the URL check"),
        ),
        case(
            "signed, pad bytes not all equal",
            dev(),
            app.signed(&uneven_padding),
            InletStricter("PKCS#7 pads with copies of the count; wechatpy reads only the last byte"),
        ),
        Case {
            now: VECTOR_TIMESTAMP,
            ..case(
                "public vector, + arrived as a space",
                App::vector(),
                vector_request(&VECTOR_ECHOSTR.replace('+', " ")),
                InletLenient(
                    "base64 holds no space: inlet restores the + that a form-decoding hop turned into one, then checks the signature over it",
                ),
            )
        },
        case(
            "URL check carrying a captured message's ciphertext",
            dev(),
            captured_as_url_check(&message),
            InletStricter(
                "wechatpy answers whatever echostr opens to, so a captured message sent back as a URL check comes back decrypted; inlet answers only WeCom's decimal echo",
            ),
        ),
        case(
            "URL check whose echostr opens to text",
            dev(),
            app.sealer.url_verification("t", "t", "not a number", NOW, "text").to_incoming(),
            InletStricter("WeCom's echo is a decimal number; anything else is refused like a forgery"),
        ),
        // The outer XML is read as a stream before the signature: still
        // only a well-formed document is accepted, as wechatpy's xmltodict requires.
        case(
            "signed, outer XML not closed after Encrypt",
            dev(),
            with_body(message.clone(), String::from_utf8(message.body.clone()).expect("UTF-8").replace("</xml>", "")),
            BothRefuse,
        ),
        Case {
            refusal: StatusCode::BAD_REQUEST,
            ..case(
                "signed, message without MsgType",
                dev(),
                app.signed(&wecom::crypto::seal(
                    &app.sealer.key,
                    [2; 16],
                    b"<xml><ToUserName>ww</ToUserName><Event>click</Event></xml>",
                    &app.sealer.corp_id,
                )),
                BothRefuse,
            )
        },
    ];
    // Every documented event shape, those without FromUserName included.
    for event in documented::documented() {
        let message = (event.xml)(&app.sealer.corp_id, NOW, "wmAJ2GCAAAaaaa");
        let sealed = wecom::crypto::seal(&app.sealer.key, [3; 16], message.as_bytes(), &app.sealer.corp_id);
        cases.push(case(
            format!("documented event {} (told apart by {})", event.name, event.distinct_by),
            dev(),
            app.signed(&sealed),
            BothAccept,
        ));
    }
    // wechatpy receivers get the query as their framework decoded it;
    // inlet's is API Gateway's. They are the same here: no `+` to decode.
    for case in &mut cases {
        case.request.source_ip = "127.0.0.1".parse().ok();
    }

    let report = wechatpy(&json!({ "judge": cases.iter().map(case_json).collect::<Vec<_>>() }));
    let mut verdicts = Verdicts::new("wechatpy");
    for case in &cases {
        let verdict = &report["verdicts"][case.name.as_str()];
        let library = verdict["accepted"].as_bool().unwrap_or_else(|| panic!("{}: no verdict in {report}", case.name));
        let (reply, publisher) = inlet(&case.app, &case.request, case.now).await;
        let accepted = reply.status.is_success();
        if !verdicts.judge(&case.name, case.expect, (library, &verdict["error"]), (accepted, reply_text(&reply))) {
            continue;
        }
        if !accepted {
            assert_eq!(reply.status, case.refusal, "{}: {}", case.name, reply_text(&reply));
        }
        if case.refusal == StatusCode::BAD_REQUEST {
            assert_eq!(verdict["authenticated"], true, "{}: wechatpy opened it, then could not read it", case.name);
        }
        if library && accepted {
            // Same plaintext: the echo answered, or the message enqueued.
            if case.request.method == Method::GET {
                assert_eq!(
                    verdict["plaintext"].as_str().map(str::as_bytes),
                    Some(reply.body.as_slice()),
                    "{}",
                    case.name
                );
            } else {
                let sent = publisher.sent();
                assert_eq!(sent[0].payload, verdict["json"], "{}: inlet's payload is xmltodict's parse", case.name);
                // wechatpy reads a missing FromUserName as None, as inlet reads it as absent.
                assert_eq!(
                    verdict["source"].as_str(),
                    sent[0].payload.to_value().unwrap()["FromUserName"].as_str(),
                    "{}: the same sender, or none",
                    case.name
                );
            }
        }
    }
    verdicts.assert_all_agree();
}

#[tokio::test]
async fn messages_sealed_by_wechatpy_are_accepted_by_inlet() {
    let app = App::dev();
    let corp = app.sealer.corp_id.clone();
    let location = format!(
        "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
         <CreateTime>{NOW}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[location_select]]></Event>\
         <EventKey><![CDATA[6]]></EventKey><SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\
         <Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ 广州市海珠区]]></Label>\
         <Poiname><![CDATA[]]></Poiname></SendLocationInfo><AgentID>1</AgentID></xml>"
    );
    let recipe = |name: &str, kind: &str, plaintext: &str, nonce: &str| json!({"name": name, "app": app.json(), "kind": kind, "plaintext": plaintext, "nonce": nonce, "timestamp": NOW});
    let recipes = vec![
        recipe("text message", "message", &text_message(&corp, NOW, "py", "你好 <inlet> & co"), "1372623149"),
        recipe("contact event", "message", &contact_event(&corp, NOW, "py"), "99"),
        recipe("location_select event", "message", &location, "5"),
        recipe(
            "kf_msg_or_event, no FromUserName",
            "message",
            &(documented::documented()[0].xml)(&corp, NOW, "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR"),
            "6",
        ),
        recipe("URL check", "echo", "8214409785284739843", "263014780"),
    ];
    let report = wechatpy(&json!({ "seal": recipes }));
    let sealed = report["sealed"].as_array().expect("sealed");
    assert_eq!(sealed.len(), recipes.len());
    for case in sealed {
        let name = case["name"].as_str().expect("name");
        assert_eq!(case["wechatpy_opens_it"], true, "{name}: wechatpy must open its own message");
        let field = |key: &str| case[key].as_str().unwrap_or_else(|| panic!("{name}: {key}")).to_string();
        let query = format!(
            "/wecom/callback?msg_signature={}&timestamp={}&nonce={}",
            field("msg_signature"),
            field("timestamp"),
            field("nonce")
        );
        let requests = if case["kind"] == "echo" {
            let echostr = inlet_shared::form::percent_encode(&field("echostr"));
            let mut request = IncomingRequest::new(Method::GET, "/wecom/callback", "");
            request.set_raw_query(&format!("{}&echostr={echostr}", query.split_once('?').expect("query").1));
            vec![("as a GET", request)]
        } else {
            vec![
                // The callback WeCom would send for this ciphertext…
                ("as a callback", post(&query, outer_body(&corp, &field("encrypt"), "1"))),
                // …and wechatpy's reply XML itself, whitespace and extra elements included.
                ("as wechatpy wrote it", post(&query, field("reply_xml"))),
            ]
        };
        for (how, request) in requests {
            let (reply, publisher) = inlet(&app, &request, NOW).await;
            assert_eq!(reply.status, StatusCode::OK, "{name} {how}: {}", String::from_utf8_lossy(&reply.body));
            if case["kind"] == "echo" {
                assert_eq!(reply.body, field("plaintext").into_bytes(), "{name}");
            } else {
                let envelope = &publisher.sent()[0];
                let expected = wecom::xml::parse(&field("plaintext")).expect("XML").value;
                assert_eq!(envelope.payload, expected, "{name} {how}");
                assert_eq!(envelope.verification.matched.as_deref(), Some("WECOM_TOKEN#1,WECOM_ENCODING_AES_KEY#1"));
            }
            // The same request with the signature's last digit changed is refused.
            let signature = field("msg_signature");
            let last = if signature.ends_with('0') { "1" } else { "0" };
            let forged = with_query(request, "msg_signature", &format!("{}{last}", &signature[..signature.len() - 1]));
            let (reply, publisher) = inlet(&app, &forged, NOW).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name} {how}, forged");
            assert!(publisher.sent().is_empty());
        }
    }
    // The text survives exactly, Chinese, markup and all.
    let (_, publisher) = inlet(
        &app,
        &post(
            &format!(
                "/wecom/callback?msg_signature={}&timestamp={}&nonce={}",
                sealed[0]["msg_signature"].as_str().expect("signature"),
                NOW,
                sealed[0]["nonce"].as_str().expect("nonce")
            ),
            outer_body(&corp, sealed[0]["encrypt"].as_str().expect("encrypt"), "1"),
        ),
        NOW,
    )
    .await;
    assert_eq!(publisher.sent()[0].message.as_ref().and_then(|m| m.text.as_deref()), Some("你好 <inlet> & co"));
}
