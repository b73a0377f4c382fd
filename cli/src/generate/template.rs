//! template.yaml's per-platform sections: each platform's parameters, its
//! `<Name>InStore` and `Has<Name>` conditions, its function (routes,
//! environment, secrets-store permissions), log group, three alarms and
//! URL outputs, and the throttling parameters that list the platforms of
//! each group. Everything else in the template is hand-written.

use crate::providers::Described;
use std::fmt::Write as _;
use std::path::Path;

use inlet_shared::platform::{Deploys, Setting, Throttling, Values, logical_id};
use inlet_shared::samples::Descriptor;

use super::regions::{Comment, replace};
use super::{GeneratedFile, and_list, read};

pub const PATH: &str = "template.yaml";

/// The regions of template.yaml, in the order they appear.
pub const REGIONS: &[&str] = &[
    "platform parameters",
    "throttling parameters",
    "platform conditions",
    "platform functions",
    "platform log groups",
    "platform alarms",
    "platform outputs",
];

pub fn generate(root: &Path, providers: &[Descriptor]) -> Result<GeneratedFile, String> {
    let mut text = read(root, PATH)?;
    for what in REGIONS {
        let body = body(what, providers);
        text = replace(PATH, &text, Comment::Hash, what, &body)?;
    }
    Ok(GeneratedFile::new(PATH, text))
}

/// The text of one region.
pub fn body(what: &str, providers: &[Descriptor]) -> String {
    match what {
        "platform parameters" => providers.iter().map(parameters).collect(),
        "throttling parameters" => throttling_parameters(providers),
        "platform conditions" => {
            let in_store: String = providers.iter().filter_map(in_store_condition).collect();
            let has: String = providers.iter().map(has_condition).collect();
            in_store + &has
        }
        "platform functions" => join_resources(providers.iter().map(function)),
        "platform log groups" => join_resources(providers.iter().map(log_group)),
        "platform alarms" => join_resources(providers.iter().flat_map(alarms)),
        "platform outputs" => providers.iter().map(outputs).collect(),
        other => unreachable!("no template region {other}"),
    }
}

/// Resources, a blank line between two.
fn join_resources(resources: impl Iterator<Item = String>) -> String {
    resources.collect::<Vec<_>>().join("\n")
}

/// A YAML double-quoted string.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a plain YAML scalar when that reads the same, else quoted.
fn plain_or_quoted(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.starts_with(|c: char| "!&*{}[]|>'\"%@`#,?:-".contains(c) || c.is_whitespace())
        && !text.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !text.contains(": ")
        && !text.contains(" #");
    if plain { text.to_string() } else { quoted(text) }
}

fn parameter_of(setting: &Setting) -> &'static str {
    setting.parameter.expect("deployed settings have a parameter")
}

fn parameters(provider: &Descriptor) -> String {
    let mut out = String::new();
    for setting in provider.platform().deployed_settings() {
        let _ = writeln!(out, "  {}:", parameter_of(setting));
        match setting.values {
            Values::Number { min, max } => {
                let _ = writeln!(out, "    Type: Number");
                let _ = writeln!(out, "    Default: {}", setting.default);
                let _ = writeln!(out, "    MinValue: {min}");
                let _ = writeln!(out, "    MaxValue: {max}");
            }
            Values::Text | Values::OneOf(_) => {
                let _ = writeln!(out, "    Type: String");
                let _ = writeln!(out, "    Default: {}", quoted(setting.default));
            }
        }
        if setting.secret {
            let _ = writeln!(out, "    NoEcho: true");
        }
        if let Values::OneOf(values) = setting.values {
            let listed: Vec<String> = values.iter().map(|v| quoted(v)).collect();
            let _ = writeln!(out, "    AllowedValues: [{}]", listed.join(", "));
        }
        let _ = writeln!(out, "    Description: {}", quoted(setting.description));
    }
    out
}

fn throttling_parameters(providers: &[Descriptor]) -> String {
    let mut out = String::new();
    for group in Throttling::ALL {
        let titles: Vec<&str> =
            providers.iter().filter(|p| p.platform().throttling == group).map(|p| p.platform().title).collect();
        let listed = if titles.is_empty() { "no platform yet".to_string() } else { and_list(&titles) };
        let (rate, burst) = group.defaults();
        let stem = group.stem();
        let description = format!("Steady requests per second allowed on each route of {listed}{}", group.rate_note());
        let _ = write!(
            out,
            "  {stem}ThrottlingRateLimit:\n    Type: Number\n    Default: {rate}\n    MinValue: 1\n    Description: {}\n",
            quoted(&description)
        );
        let _ = write!(
            out,
            "  {stem}ThrottlingBurstLimit:\n    Type: Number\n    Default: {burst}\n    MinValue: 1\n    Description: \"Burst allowed on each of those routes.\"\n"
        );
    }
    out
}

fn in_store_condition(provider: &Descriptor) -> Option<String> {
    provider.platform().secret_settings().next()?;
    let id = logical_id(provider.name);
    Some(format!(
        "  {id}InStore: !And\n    - !Condition UseSecretsStore\n    - !Not [!Equals [!Join [\"\", !Split [\",{name},\", !Sub \",${{StoreProviders}},\"]], !Sub \",${{StoreProviders}},\"]]\n",
        name = provider.name
    ))
}

/// A condition, as a tree.
enum Condition {
    Named(String),
    Set(&'static str),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    fn is_leaf(&self) -> bool {
        matches!(self, Condition::Named(_) | Condition::Set(_))
    }

    fn inline(&self) -> String {
        match self {
            Condition::Named(name) => format!("!Condition {name}"),
            Condition::Set(parameter) => format!("!Not [!Equals [!Ref {parameter}, \"\"]]"),
            Condition::And(items) => {
                format!("!And [{}]", items.iter().map(Condition::inline).collect::<Vec<_>>().join(", "))
            }
            Condition::Or(items) => {
                format!("!Or [{}]", items.iter().map(Condition::inline).collect::<Vec<_>>().join(", "))
            }
        }
    }

    /// Written on one line: a leaf, or `!And [!Condition X, leaf]`.
    fn reads_inline(&self) -> bool {
        match self {
            Condition::Named(_) | Condition::Set(_) => true,
            Condition::And(items) | Condition::Or(items) => {
                items.len() == 2 && matches!(items[0], Condition::Named(_)) && items[1].is_leaf()
            }
        }
    }

    /// The value after `key:` (`head`), then its items as block lines at `indent`.
    fn block(&self, indent: usize) -> (String, String) {
        let (tag, items) = match self {
            Condition::And(items) => ("!And", items),
            Condition::Or(items) => ("!Or", items),
            leaf => return (leaf.inline(), String::new()),
        };
        let mut lines = String::new();
        let pad = " ".repeat(indent);
        for item in items {
            if item.reads_inline() {
                let _ = writeln!(lines, "{pad}- {}", item.inline());
            } else {
                let (head, rest) = item.block(indent + 2);
                let _ = writeln!(lines, "{pad}- {head}");
                lines.push_str(&rest);
            }
        }
        (tag.to_string(), lines)
    }
}

/// `Has<Name>`: the function is deployed when its deciding settings are set
/// (secrets: given as parameters while SecretsSource is env, or the platform
/// named in StoreProviders with a store).
fn has_condition(provider: &Descriptor) -> String {
    let id = logical_id(provider.name);
    let platform = provider.platform();
    let deciding = |secret: bool, deploys: Deploys| {
        platform
            .deployed_settings()
            .filter(move |s| s.secret == secret && s.deploys == deploys)
            .map(|s| Condition::Set(parameter_of(s)))
            .collect::<Vec<_>>()
    };
    let mut alternatives = deciding(false, Deploys::Any);
    let any_secret = deciding(true, Deploys::Any);
    let required_secrets = deciding(true, Deploys::Required);
    if !any_secret.is_empty() || !required_secrets.is_empty() {
        let mut env = vec![Condition::Named("UseEnvSecrets".into())];
        if !required_secrets.is_empty() {
            env.extend(required_secrets);
            if !any_secret.is_empty() {
                env.push(Condition::Or(any_secret));
            }
        } else if any_secret.len() == 1 {
            env.extend(any_secret);
        } else {
            env.push(Condition::Or(any_secret));
        }
        alternatives.push(Condition::Named(format!("{id}InStore")));
        alternatives.push(Condition::And(env));
    }
    let mut required = deciding(false, Deploys::Required);
    let condition = match alternatives.len() {
        0 => None,
        1 => alternatives.pop(),
        _ => Some(Condition::Or(alternatives)),
    };
    let condition = match (required.len(), condition) {
        (0, Some(condition)) => condition,
        (1, None) => required.remove(0),
        (_, None) => Condition::And(required),
        (_, Some(condition)) => {
            required.push(condition);
            Condition::And(required)
        }
    };
    let (head, rest) = condition.block(4);
    format!("  Has{id}: {head}\n{rest}")
}

const SECRETS_PREFIX: &str = r#"!If [HasSecretsPrefix, !Ref SecretsPrefix, !Sub "/inlet/${AWS::StackName}/"]"#;

fn function(provider: &Descriptor) -> String {
    let id = logical_id(provider.name);
    let platform = provider.platform();
    let mut out = format!(
        "  {id}Function:
    Type: AWS::Serverless::Function
    Condition: Has{id}
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: {name}
    Properties:
      CodeUri: .
      Description: {description}
      Environment:
        Variables:
",
        name = provider.name,
        description = plain_or_quoted(platform.function_description),
    );
    for setting in platform.deployed_settings() {
        let parameter = parameter_of(setting);
        if setting.secret {
            let _ = writeln!(out, "          {}: !If [UseSecretsStore, \"\", !Ref {parameter}]", setting.name);
        } else {
            let _ = writeln!(out, "          {}: !Ref {parameter}", setting.name);
        }
    }
    out.push_str(
        "      Policies:
        - SQSSendMessagePolicy:
            QueueName: !GetAtt EventQueue.QueueName
        # The connection warm-up at init (SqsPublisher::warm_up).
        - Statement:
            - Effect: Allow
              Action: sqs:GetQueueAttributes
              Resource: !GetAtt EventQueue.Arn
",
    );
    let secrets: Vec<&str> = platform.secret_settings().map(|s| s.name).collect();
    if !secrets.is_empty() {
        let arns = |arn: &dyn Fn(&str) -> String| {
            secrets
                .iter()
                .map(|name| format!("                  - !Sub\n                    - {}\n                    - Prefix: {SECRETS_PREFIX}\n", quoted(&arn(name))))
                .collect::<String>()
        };
        let _ = write!(
            out,
            "        # Its own secret settings and nothing else, when SecretsSource is a store.
        - !If
          - UseSsmSecrets
          - Statement:
              - Effect: Allow
                Action: ssm:GetParameters
                Resource:
{ssm}              # SecureString values are decrypted by KMS on SSM's behalf; the
              # condition keeps the key usable only through SSM (whose own
              # permission above names the parameters). The AWS managed key
              # aws/ssm needs no more; a customer managed key must also allow
              # this role in its key policy.
              - Effect: Allow
                Action: kms:Decrypt
                Resource: !Sub \"arn:${{AWS::Partition}}:kms:${{AWS::Region}}:${{AWS::AccountId}}:key/*\"
                Condition:
                  StringEquals:
                    kms:ViaService: !Sub \"ssm.${{AWS::Region}}.amazonaws.com\"
          - !Ref AWS::NoValue
        - !If
          - UseSecretsManagerSecrets
          - Statement:
              # A secret's ARN ends in a hyphen and six random characters.
              - Effect: Allow
                Action: secretsmanager:GetSecretValue
                Resource:
{secrets_manager}              # BatchGetSecretValue takes no resource ARN (Resource \"*\"); it
              # returns only the secrets GetSecretValue above allows.
              - Effect: Allow
                Action: secretsmanager:BatchGetSecretValue
                Resource: \"*\"
          - !Ref AWS::NoValue
",
            ssm = arns(&|name| format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter${{Prefix}}{name}"
            )),
            secrets_manager = arns(&|name| format!(
                "arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:${{Prefix}}{name}-??????"
            )),
        );
    }
    out.push_str("      Events:\n");
    let stem = platform.throttling.stem();
    let methods =
        provider.routes.iter().flat_map(|route| route.methods.iter().map(move |method| (route.path, *method)));
    for (name, (path, method)) in platform.route_names.iter().zip(methods) {
        let _ = write!(
            out,
            "        {name}:
          Type: HttpApi
          Properties:
            ApiId: !Ref HttpApi
            Path: {path}
            Method: {method}
            RouteSettings:
              ThrottlingRateLimit: !Ref {stem}ThrottlingRateLimit
              ThrottlingBurstLimit: !Ref {stem}ThrottlingBurstLimit
"
        );
    }
    out
}

fn log_group(provider: &Descriptor) -> String {
    let id = logical_id(provider.name);
    format!(
        "  {id}LogGroup:
    Type: AWS::Logs::LogGroup
    Condition: Has{id}
    Properties:
      LogGroupName: !Sub \"/aws/lambda/${{{id}Function}}\"
      RetentionInDays: !Ref LogRetentionDays
"
    )
}

fn alarms(provider: &Descriptor) -> [String; 3] {
    let id = logical_id(provider.name);
    let name = provider.name;
    let tail = "      AlarmActions: [!Ref AlarmTopic]\n      OKActions: [!Ref AlarmTopic]\n";
    let head = |alarm: &str, description: &str, metric: &str| {
        format!(
            "  {id}{alarm}:
    Type: AWS::CloudWatch::Alarm
    Condition: Has{id}
    Properties:
      AlarmDescription: {description}
      Namespace: !Sub \"inlet/${{AWS::StackName}}\"
      MetricName: {metric}
      Dimensions:
        - Name: Provider
          Value: {name}
"
        )
    };
    [
        head(
            "RefusalAlarm",
            &format!(
                "!Sub \"inlet {name}: more than ${{RefusalAlarmThreshold}} requests refused in 5 minutes (a rotated or mistyped secret, a new source address, or someone probing)\""
            ),
            "Refused",
        ) + "      Statistic: Sum
      Period: 300
      EvaluationPeriods: 1
      Threshold: !Ref RefusalAlarmThreshold
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
" + tail,
        head(
            "AckLatencyAlarm",
            &format!(
                "!Sub \"inlet {name}: p99 answer time above ${{AckDeadlineAlarmPercent}} % of the route's acknowledgement deadline for 3 minutes: the platform will soon time out and retry or disable the endpoint\""
            ),
            "AckDeadlineUsed",
        ) + "      ExtendedStatistic: p99
      Period: 60
      EvaluationPeriods: 3
      DatapointsToAlarm: 3
      Threshold: !Ref AckDeadlineAlarmPercent
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
" + tail,
        head(
            "QueueFailureAlarm",
            &quoted(&format!(
                "inlet {name}: events could not be enqueued and were answered 503 (the platform retries, if it does)"
            )),
            "QueueFailures",
        ) + "      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      TreatMissingData: notBreaching
" + tail,
    ]
}

fn outputs(provider: &Descriptor) -> String {
    let id = logical_id(provider.name);
    provider
        .platform()
        .urls
        .iter()
        .map(|url| {
            format!(
                "  {output}:\n    Condition: Has{id}\n    Description: {description}\n    Value: !Sub \"https://${{HttpApi}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}{path}\"\n",
                output = url.output,
                description = quoted(url.description),
                path = url.path,
            )
        })
        .collect()
}
