use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use hotline_core::ports::{StoreError, StoreResult};

use super::sdk_error;
use crate::table::{Condition, Index, Item, Query, Table, Written, epoch_now, next_version};

/// The single table on DynamoDB. Attributes: `pk`, `sk`, `gsi1pk`, `gsi1sk`, `gsi2pk`,
/// `gsi2sk`, `version` (N), `data` (M, the record as native DynamoDB attributes) and, on
/// short-lived records, `ttl` (N, epoch seconds: the table's TimeToLiveSpecification).
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    name: String,
}

const GSI1: &str = "gsi1";
const GSI2: &str = "gsi2";
/// The TTL attribute, as the template's `TimeToLiveSpecification` names it.
const TTL: &str = "ttl";

impl DynamoTable {
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Creates the table as `infra/template.yaml` does (for tests and local emulators).
    pub async fn create(&self) -> StoreResult<()> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| StoreError::Invalid(e.to_string()))
        };
        let gsi1 = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // Keys only: a call passes through it on every hang-up, and the sweeper reads the
        // few it lists from the table anyway (consistently).
        let gsi2 = GlobalSecondaryIndex::builder()
            .index_name(GSI2)
            .key_schema(key("gsi2pk", KeyType::Hash)?)
            .key_schema(key("gsi2sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.client
            .create_table()
            .table_name(&self.name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .attribute_definitions(attr("gsi1pk")?)
            .attribute_definitions(attr("gsi1sk")?)
            .attribute_definitions(attr("gsi2pk")?)
            .attribute_definitions(attr("gsi2sk")?)
            .global_secondary_indexes(gsi1)
            .global_secondary_indexes(gsi2)
            .send()
            .await
            .map_err(sdk_error)?;
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(TTL)
            .enabled(true)
            .build()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.client
            .update_time_to_live()
            .table_name(&self.name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn to_attributes(item: &Item, version: u64) -> StoreResult<HashMap<String, AttributeValue>> {
    let data: AttributeValue = serde_dynamo::to_attribute_value(&item.data)
        .map_err(|e| StoreError::Invalid(format!("record to DynamoDB: {e}")))?;
    let mut attrs = HashMap::from([
        ("pk".to_owned(), s(&item.pk)),
        ("sk".to_owned(), s(&item.sk)),
        ("version".to_owned(), AttributeValue::N(version.to_string())),
        ("data".to_owned(), data),
    ]);
    if let Some((pk, sk)) = &item.gsi1 {
        attrs.insert("gsi1pk".to_owned(), s(pk));
        attrs.insert("gsi1sk".to_owned(), s(sk));
    }
    if let Some((pk, sk)) = &item.gsi2 {
        attrs.insert("gsi2pk".to_owned(), s(pk));
        attrs.insert("gsi2sk".to_owned(), s(sk));
    }
    if let Some(at) = item.expires_at {
        attrs.insert(TTL.to_owned(), AttributeValue::N(at.to_string()));
    }
    Ok(attrs)
}

fn from_attributes(mut attrs: HashMap<String, AttributeValue>) -> StoreResult<Item> {
    let mut take_s = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        None => Ok(None),
        Some(_) => Err(StoreError::Corrupt(format!(
            "attribute {name} is not a string"
        ))),
    };
    let pk = take_s("pk")?.ok_or_else(|| StoreError::Corrupt("item without pk".into()))?;
    let sk = take_s("sk")?.ok_or_else(|| StoreError::Corrupt("item without sk".into()))?;
    let gsi1 = take_s("gsi1pk")?.zip(take_s("gsi1sk")?);
    let gsi2 = take_s("gsi2pk")?.zip(take_s("gsi2sk")?);
    let version = match attrs.remove("version") {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{pk}/{sk}: bad version")))?,
        _ => 0,
    };
    let expires_at = match attrs.remove(TTL) {
        Some(AttributeValue::N(n)) => Some(
            n.parse()
                .map_err(|_| StoreError::Corrupt(format!("{pk}/{sk}: bad ttl")))?,
        ),
        _ => None,
    };
    let data = match attrs.remove("data") {
        Some(v) => serde_dynamo::from_attribute_value(v)
            .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: {e}")))?,
        None => return Err(StoreError::Corrupt(format!("{pk}/{sk}: no data"))),
    };
    Ok(Item {
        pk,
        sk,
        gsi1,
        gsi2,
        version,
        data,
        expires_at,
    })
}

#[async_trait]
impl Table for DynamoTable {
    async fn put(&self, item: &Item, condition: Condition) -> StoreResult<Written> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(to_attributes(item, next_version(item, condition))?));
        req = match condition {
            Condition::Always => req,
            // An item DynamoDB has not deleted yet but whose TTL has passed is absent.
            Condition::Absent => req
                .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":now", AttributeValue::N(epoch_now().to_string())),
            Condition::Version(v) => req
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
            Condition::AbsentOrSameOrg => {
                let org = item.data["org"].as_str().ok_or_else(|| {
                    StoreError::Invalid(format!("{}/{}: no org to claim it for", item.pk, item.sk))
                })?;
                req.condition_expression("attribute_not_exists(pk) OR #d.#o = :org")
                    .expression_attribute_names("#d", "data")
                    .expression_attribute_names("#o", "org")
                    .expression_attribute_values(":org", s(org))
            }
        };
        match req.send().await {
            Ok(_) => Ok(Written::Yes),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Ok(Written::ConditionFailed)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn delete(&self, pk: &str, sk: &str, version: u64) -> StoreResult<Written> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Yes),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(Written::ConditionFailed)
            }
            Err(e) => Err(sdk_error(e)),
        }
    }

    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        // DynamoDB deletes expired items up to days late: until then they are not read.
        let now = epoch_now();
        Ok(out
            .item
            .map(from_attributes)
            .transpose()?
            .filter(|item| !item.is_expired(now)))
    }

    async fn remove_expired(&self, _now: i64) -> StoreResult<usize> {
        // The table's TTL deletes them; reads skip them until it does.
        Ok(0)
    }

    async fn query(&self, query: &Query) -> StoreResult<Vec<Item>> {
        let (pk_name, sk_name, index) = match query.index {
            Index::Primary => ("pk", "sk", None),
            Index::Gsi1 => ("gsi1pk", "gsi1sk", Some(GSI1)),
            Index::Gsi2 => ("gsi2pk", "gsi2sk", Some(GSI2)),
        };
        let mut items = Vec::new();
        let mut start = None;
        let now = epoch_now();
        loop {
            let remaining = query.limit.map(|l| l.saturating_sub(items.len()));
            if remaining == Some(0) {
                break;
            }
            let request = self
                .client
                .query()
                .table_name(&self.name)
                .set_index_name(index.map(str::to_owned))
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(&query.pk))
                .expression_attribute_values(":prefix", s(&query.sk_prefix));
            // A key condition has one sort key test: the bound is a BETWEEN (inclusive, so
            // the bound itself is dropped below). Every key in it has the prefix, since
            // the bound is in the prefix's range.
            let request = match &query.sk_before {
                Some(before) => request
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :prefix AND :before")
                    .expression_attribute_values(":before", s(before)),
                None => request.key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)"),
            };
            let out = request
                .scan_index_forward(!query.descending)
                .set_limit(remaining.map(|r| i32::try_from(r).unwrap_or(i32::MAX)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk_error)?;
            for mut attrs in out.items.unwrap_or_default() {
                if index == Some(GSI2) {
                    // A keys-only index: the record itself is not here.
                    attrs
                        .entry("data".to_owned())
                        .or_insert_with(|| AttributeValue::Null(true));
                }
                let item = from_attributes(attrs)?;
                let sk = match query.index {
                    Index::Primary => Some(&item.sk),
                    Index::Gsi1 => item.gsi1.as_ref().map(|(_, sk)| sk),
                    Index::Gsi2 => item.gsi2.as_ref().map(|(_, sk)| sk),
                };
                if query.sk_before.is_some() && sk == query.sk_before.as_ref() {
                    continue;
                }
                if item.is_expired(now) {
                    continue;
                }
                items.push(item);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(items)
    }
}
