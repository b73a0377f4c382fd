//! The queue, dead-letter queue and table, created on the local emulator
//! with the same shape as template.yaml.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Names and URLs of what [`create_resources`] made.
#[derive(Clone, Debug)]
pub struct LocalResources {
    pub queue_url: String,
    pub dlq_url: String,
    pub table_name: String,
}

/// How the local queue redrives, mirroring template.yaml.
#[derive(Clone, Debug)]
pub struct QueueShape {
    pub queue_name: String,
    pub visibility_timeout_secs: u32,
    pub max_receive_count: u32,
}

impl Default for QueueShape {
    fn default() -> Self {
        // Locally a failed record comes back after 10 s rather than the
        // deployed 180 s, so retries can be watched while developing.
        QueueShape { queue_name: "inlet-events".into(), visibility_timeout_secs: 10, max_receive_count: 5 }
    }
}

pub fn sdk_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    error: aws_sdk_sqs::error::SdkError<E, R>,
) -> String {
    aws_sdk_sqs::error::DisplayErrorContext(error).to_string()
}

/// Creates (or finds) the queue, its DLQ and the dedup table. Idempotent.
pub async fn create_resources(
    sqs: &aws_sdk_sqs::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
    shape: &QueueShape,
    table_name: &str,
) -> Result<LocalResources, String> {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{}-dlq", shape.queue_name))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(sdk_error)?
        .queue_url
        .ok_or("CreateQueue returned no URL")?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk_error)?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or("DLQ has no ARN")?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": shape.max_receive_count});
    let queue_url = sqs
        .create_queue()
        .queue_name(&shape.queue_name)
        .attributes(QueueAttributeName::VisibilityTimeout, shape.visibility_timeout_secs.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(sdk_error)?
        .queue_url
        .ok_or("CreateQueue returned no URL")?;

    let created = dynamodb
        .create_table()
        .table_name(table_name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await;
    match created {
        Ok(_) => {
            dynamodb
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name("expiration")
                        .enabled(true)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
        Err(e) => return Err(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()),
    }
    Ok(LocalResources { queue_url, dlq_url, table_name: table_name.to_string() })
}
