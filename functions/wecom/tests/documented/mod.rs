//! Events as WeCom's documentation shows them (developer.work.weixin.qq.com:
//! 接收事件, 客户联系 回调事件, 审批, 异步任务, 微信客服 接收消息和事件),
//! with the field that tells two of them apart made a parameter, so a test
//! can build two events that differ only there.
//!
//! Shared by `handler.rs` and `official_lib.rs` (`mod documented;`).

/// One documented event type.
pub struct Documented {
    /// `Event` (and `ChangeType` where it matters), for messages.
    pub name: &'static str,
    /// The field two such events of one second differ in.
    pub distinct_by: &'static str,
    /// The event XML for the CorpID, `CreateTime` and distinguishing value.
    pub xml: fn(corp: &str, time: i64, distinct: &str) -> String,
}

/// Every event type whose distinguishing field is not the sender or the
/// time, plus the customer-service event that has no sender at all.
pub fn documented() -> Vec<Documented> {
    vec![
        Documented {
            name: "kf_msg_or_event",
            distinct_by: "Token",
            xml: |corp, time, token| {
                format!(
                    "<xml>\n   <ToUserName><![CDATA[{corp}]]></ToUserName>\n   <CreateTime>{time}</CreateTime>\n   \
                     <MsgType><![CDATA[event]]></MsgType>\n   <Event><![CDATA[kf_msg_or_event]]></Event>\n   \
                     <Token><![CDATA[{token}]]></Token>\n   <OpenKfId><![CDATA[wkAJ2GCAAASSm4_FhToWMFea0xAFfd3Q]]></OpenKfId>\n</xml>"
                )
            },
        },
        Documented {
            name: "kf_msg_or_event without OpenKfId (the earlier documented shape)",
            distinct_by: "Token",
            xml: |corp, time, token| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><CreateTime>{time}</CreateTime>\
                     <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>\
                     <Token><![CDATA[{token}]]></Token></xml>"
                )
            },
        },
        Documented {
            name: "change_external_contact/add_external_contact",
            distinct_by: "ExternalUserID",
            xml: |corp, time, external| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>\
                     <UserID><![CDATA[zhangsan]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>\
                     <State><![CDATA[teststate]]></State><WelcomeCode><![CDATA[WELCOMECODE]]></WelcomeCode></xml>"
                )
            },
        },
        Documented {
            name: "change_external_chat/update",
            distinct_by: "ChatId",
            xml: |corp, time, chat| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{chat}]]></ChatId>\
                     <ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>\
                     <JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>\
                     <MemChangeList><Item>Jack</Item><Item>Rose</Item></MemChangeList>\
                     <LastMemVer>9c3f97c2ada667dfb5f6d03308d963e1</LastMemVer>\
                     <CurMemVer>71217227bbd112ecfe3a49c482195cb4</CurMemVer></xml>"
                )
            },
        },
        Documented {
            name: "change_external_tag/create",
            distinct_by: "Id",
            xml: |corp, time, tag| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[change_external_tag]]></Event><Id><![CDATA[{tag}]]></Id>\
                     <TagType><![CDATA[tag]]></TagType><ChangeType><![CDATA[create]]></ChangeType></xml>"
                )
            },
        },
        Documented {
            name: "sys_approval_change",
            distinct_by: "ApprovalInfo/SpNo",
            xml: |corp, time, sp_no| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[sys_approval_change]]></Event><AgentID>3010040</AgentID>\
                     <ApprovalInfo><SpNo>{sp_no}</SpNo><SpName><![CDATA[付款]]></SpName><SpStatus>1</SpStatus>\
                     <TemplateId><![CDATA[3TkZjxugodbqpEMk9fQ]]></TemplateId><ApplyTime>1571728713</ApplyTime>\
                     <Applyer><UserId><![CDATA[xiaoming]]></UserId><Party><![CDATA[1]]></Party></Applyer>\
                     <SpRecord><SpStatus>1</SpStatus><ApproverAttr>1</ApproverAttr><Details><Approver>\
                     <UserId><![CDATA[zhangsan]]></UserId></Approver><Speech><![CDATA[]]></Speech>\
                     <SpStatus>1</SpStatus><SpTime>0</SpTime></Details></SpRecord>\
                     <Notifyer><UserId><![CDATA[lisi]]></UserId></Notifyer><StatuChangeEvent>1</StatuChangeEvent>\
                     </ApprovalInfo></xml>"
                )
            },
        },
        Documented {
            name: "open_approval_change",
            distinct_by: "ApprovalInfo/ThirdNo",
            xml: |corp, time, third_no| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[open_approval_change]]></Event><AgentID>1</AgentID>\
                     <ApprovalInfo><ThirdNo><![CDATA[{third_no}]]></ThirdNo><OpenSpName><![CDATA[付款]]></OpenSpName>\
                     <OpenTemplateId><![CDATA[1234567890]]></OpenTemplateId><OpenSpStatus>1</OpenSpStatus>\
                     <ApplyTime>1527837645</ApplyTime><ApplyUserName><![CDATA[xiaoming]]></ApplyUserName>\
                     <ApplyUserId><![CDATA[1]]></ApplyUserId><ApplyUserParty><![CDATA[产品部]]></ApplyUserParty>\
                     <ApprovalNodes><ApprovalNode><NodeStatus>1</NodeStatus><NodeAttr>1</NodeAttr><NodeType>1</NodeType>\
                     <Items><Item><ItemName><![CDATA[xiaohong]]></ItemName><ItemUserId><![CDATA[2]]></ItemUserId>\
                     <ItemStatus>1</ItemStatus><ItemOpTime>0</ItemOpTime></Item></Items></ApprovalNode></ApprovalNodes>\
                     </ApprovalInfo></xml>"
                )
            },
        },
        Documented {
            name: "batch_job_result",
            distinct_by: "BatchJob/JobId",
            xml: |corp, time, job| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[batch_job_result]]></Event><BatchJob><JobId><![CDATA[{job}]]></JobId>\
                     <JobType><![CDATA[sync_user]]></JobType><ErrCode>0</ErrCode><ErrMsg><![CDATA[ok]]></ErrMsg>\
                     </BatchJob></xml>"
                )
            },
        },
        Documented {
            name: "change_contact/delete_user",
            distinct_by: "UserID",
            xml: |corp, time, user| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[change_contact]]></Event><ChangeType>delete_user</ChangeType>\
                     <UserID><![CDATA[{user}]]></UserID></xml>"
                )
            },
        },
        Documented {
            name: "template_card_event",
            distinct_by: "TaskId",
            xml: |corp, time, task| {
                format!(
                    "<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>\
                     <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
                     <Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[button_approve]]></EventKey>\
                     <TaskId><![CDATA[{task}]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>\
                     <ResponseCode><![CDATA[ResponseCode]]></ResponseCode><AgentID>1</AgentID></xml>"
                )
            },
        },
    ]
}
