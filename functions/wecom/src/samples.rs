//! WeCom samples, sealed and signed with the first `WECOM_TOKEN` and
//! `WECOM_ENCODING_AES_KEY` for `WECOM_CORP_ID`. Everything WeCom makes
//! random (the nonce, the plaintext's 16-byte prefix) is derived from
//! `unique`, so the same `unique` gives byte-identical requests and `make
//! events` is stable. The IV needs nothing: the protocol fixes it to the
//! key's first 16 bytes.

use inlet_shared::form::percent_encode;
use inlet_shared::prelude::*;
use inlet_shared::verify::sha256_bytes;

use crate::{CORP_ID, ENCODING_AES_KEY, ROUTE, TOKEN, WecomFunction, crypto};

impl Samples for WecomFunction {
    const SAMPLE_NAMES: &'static [&'static str] = &["wecom-url-verification", "wecom-text-message", "wecom-event"];

    fn sample(name: &str, env: &dyn EnvSource, timestamp: i64, unique: &str) -> Option<SampleRequest> {
        let app = WecomApp::from_env(env)?;
        Some(match name {
            "wecom-url-verification" => {
                app.url_verification(name, "URL check when the callback URL is saved", &echo(unique), timestamp, unique)
            }
            "wecom-text-message" => app.callback(
                name,
                "text message from a member to the app",
                &text_message(&app.corp_id, timestamp, unique, "/status prod"),
                timestamp,
                unique,
            ),
            "wecom-event" => app.callback(
                name,
                "contact change event (change_contact/update_user) with nested extended attributes",
                &contact_event(&app.corp_id, timestamp, unique),
                timestamp,
                unique,
            ),
            _ => return None,
        })
    }
}

/// One app's settings as a sender uses them: the first of each list.
#[derive(Clone, Debug)]
pub struct WecomApp {
    pub token: String,
    pub key: [u8; 32],
    pub corp_id: String,
}

impl WecomApp {
    pub fn from_env(env: &dyn EnvSource) -> Option<Self> {
        let token = SecretList::parse(TOKEN, &env.get(TOKEN)?).iter().next()?.value.expose().to_string();
        let keys = SecretList::parse(ENCODING_AES_KEY, &env.get(ENCODING_AES_KEY)?);
        let key = crypto::decode_encoding_aes_key(keys.iter().next()?.value.expose())?;
        let corp_id = env.get(CORP_ID)?.trim().to_string();
        Some(WecomApp { token, key, corp_id })
    }

    /// `message` sealed as WeCom seals it, with the prefix derived from `unique`.
    pub fn seal(&self, message: &str, unique: &str) -> String {
        crypto::seal(&self.key, random_prefix(unique), message.as_bytes(), &self.corp_id)
    }

    /// The GET WeCom sends to check the URL, with `echo` as the plaintext
    /// it expects back.
    pub fn url_verification(
        &self,
        name: &str,
        description: &str,
        echo: &str,
        timestamp: i64,
        unique: &str,
    ) -> SampleRequest {
        let echostr = self.seal(echo, unique);
        let path =
            format!("{}&echostr={}", self.signed_path(timestamp, &nonce(unique), &echostr), percent_encode(&echostr));
        request(name, description, "GET", path, Vec::new())
    }

    /// The POST WeCom sends for `message` (a message or event XML).
    pub fn callback(
        &self,
        name: &str,
        description: &str,
        message: &str,
        timestamp: i64,
        unique: &str,
    ) -> SampleRequest {
        let ciphertext = self.seal(message, unique);
        let path = self.signed_path(timestamp, &nonce(unique), &ciphertext);
        request(name, description, "POST", path, outer_body(&self.corp_id, &ciphertext, "1000002").into_bytes())
    }

    /// `/wecom/callback?msg_signature=…&timestamp=…&nonce=…` for `ciphertext`.
    pub fn signed_path(&self, timestamp: i64, nonce: &str, ciphertext: &str) -> String {
        let timestamp = timestamp.to_string();
        let signature = crypto::msg_signature(&self.token, &timestamp, nonce, ciphertext);
        format!("{ROUTE}?msg_signature={signature}&timestamp={timestamp}&nonce={}", percent_encode(nonce))
    }
}

/// The outer XML of a POST, as WeCom sends it.
pub fn outer_body(corp_id: &str, ciphertext: &str, agent_id: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{ciphertext}]]></Encrypt>\
         <AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
    )
}

fn request(name: &str, description: &str, method: &str, path: String, body: Vec<u8>) -> SampleRequest {
    let headers = if body.is_empty() { Vec::new() } else { vec![("content-type".into(), "text/xml".into())] };
    SampleRequest {
        name: name.to_string(),
        description: description.to_string(),
        method: method.into(),
        path,
        headers,
        body,
        source_ip: "127.0.0.1".into(),
        path_params: Vec::new(),
    }
}

/// A text message as WeCom's documentation shows it (`MsgId` from `unique`).
pub fn text_message(corp_id: &str, timestamp: i64, unique: &str, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>\
         <CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content><![CDATA[{content}]]></Content><MsgId>{}</MsgId><AgentID>1000002</AgentID></xml>",
        msg_id(unique)
    )
}

/// A contact change event: a member updated, with extended attributes
/// (nested elements and a repeated `<Item>`). Its user id comes from
/// `unique`, so two uniques are two distinct events.
pub fn contact_event(corp_id: &str, timestamp: i64, unique: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
         <CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[change_contact]]></Event><ChangeType>update_user</ChangeType>\
         <UserID><![CDATA[user-{}]]></UserID><Name><![CDATA[张三]]></Name><Department><![CDATA[1,2]]></Department>\
         <ExtAttr><Item><Name><![CDATA[爱好]]></Name><Type>0</Type><Text><Value><![CDATA[旅游]]></Value></Text></Item>\
         <Item><Name><![CDATA[卡号]]></Name><Type>1</Type><Web><Title><![CDATA[企业微信]]></Title>\
         <Url><![CDATA[https://work.weixin.qq.com]]></Url></Web></Item></ExtAttr></xml>",
        &hex_of(unique, "user")[..8]
    )
}

fn hex_of(unique: &str, purpose: &str) -> String {
    hex::encode(sha256_bytes(format!("wecom-sample:{purpose}:{unique}").as_bytes()))
}

fn number_of(unique: &str, purpose: &str) -> u64 {
    let digest = sha256_bytes(format!("wecom-sample:{purpose}:{unique}").as_bytes());
    u64::from_be_bytes([digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7]])
}

/// A 64-bit decimal `MsgId`, as WeCom's are.
pub fn msg_id(unique: &str) -> String {
    (number_of(unique, "msgid") >> 1).to_string()
}

/// A decimal nonce, as WeCom's are.
pub fn nonce(unique: &str) -> String {
    (number_of(unique, "nonce") % 10_000_000_000).to_string()
}

/// The plaintext's 16-byte prefix: alphanumerics, as WeCom's SDKs pick them.
pub fn random_prefix(unique: &str) -> [u8; 16] {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let digest = sha256_bytes(format!("wecom-sample:random:{unique}").as_bytes());
    let mut prefix = [0u8; 16];
    for (out, byte) in prefix.iter_mut().zip(digest) {
        *out = ALPHABET[usize::from(byte) % ALPHABET.len()];
    }
    prefix
}

/// The `echostr` plaintext: a decimal string, as WeCom sends.
pub fn echo(unique: &str) -> String {
    number_of(unique, "echo").to_string()
}
