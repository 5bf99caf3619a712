//! Subscriptions, the event log, the attempt log and API keys in one DynamoDB table.
//!
//! | record | pk | sk | gsi1pk / gsi1sk | TTL |
//! |---|---|---|---|---|
//! | subscription | `T#<tenant>` | `SUB#<sub_id>` | | |
//! | event | `T#<tenant>#EVT` | `<evt_id>` | | `expires_at` |
//! | attempt | `T#<tenant>#ATT#<sub_id>` | `<att_id>` | | `expires_at` |
//! | delivered marker | `T#<tenant>#DLV#<sub_id>` | `<evt_id>[#<rpl_id>]` | | `expires_at` |
//! | idempotency key | `IDEM#<owner>#<key>` | `IDEM` | | `expires_at` (24 h) |
//! | API key | `KEY#<sha256 of key>` | `KEY` | `KEYS#<owner>` / `<key_id>` | |
//! | API key id → hash | `KEYID#<key_id>` | `KEYID` | | |
//!
//! Every item stores the whole record as JSON in `doc`: the event payload must come back
//! byte-for-byte as published (a DynamoDB number would turn `1.0` into `1`), and one codec for
//! every record keeps the adapter small. Key attributes are derived from the record, never
//! from a cursor, so a cursor can only move within the caller's own partition. Ids are ULIDs,
//! so sort keys are time-ordered: the event log is a range query between two id bounds, and
//! attempts read newest first by querying backwards. DynamoDB deletes expired items late (up
//! to days), so reads also filter on `expires_at`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, PutRequest, TransactWriteItem, WriteRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hookline_core::error::PortError;
use hookline_core::idempotency::IdempotencyRecord;
use hookline_core::ids::{ApiKeyId, EventId, SubscriptionId};
use hookline_core::model::{ApiKey, Attempt, Event, KeyOwner, Subscription, TenantId};
use hookline_core::ports::{ApiKeyStore, AttemptLog, EventLog, IdempotencyStore, Page, SubscriptionStore, TimeWindow};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use crate::errors::port_error;

/// The secondary index that lists API keys by owner.
pub const GSI1: &str = "gsi1";
/// BatchWriteItem takes at most 25 requests.
pub const MAX_BATCH_WRITE: usize = 25;
/// How many times unprocessed batch items are resent before the write is reported failed.
const BATCH_WRITE_ROUNDS: u32 = 5;

type Item = HashMap<String, AttributeValue>;

/// The single-table store. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention: Duration,
}

impl DynamoStore {
    /// `retention` is how long events and attempts are kept (`HOOKLINE_RETENTION_DAYS`).
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, retention: Duration) -> Self {
        Self { client, table: table.into(), retention }
    }

    fn expiry(&self, from: OffsetDateTime) -> i64 {
        (from + self.retention).unix_timestamp()
    }

    async fn put(&self, item: Item, condition: Option<&str>, values: Option<Item>) -> Result<(), PortError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Err(PortError::Conflict("the record exists already or changed meanwhile".into()))
            }
            Err(err) => Err(port_error("PutItem", err)),
        }
    }

    async fn get_doc<T: DeserializeOwned>(&self, pk: String, sk: String) -> Result<Option<(T, Item)>, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        match output.item {
            Some(item) if !expired(&item, OffsetDateTime::now_utc()) => Ok(Some((decode(&item)?, item))),
            _ => Ok(None),
        }
    }

    /// Writes items in BatchWriteItem calls of 25, resending what DynamoDB leaves unprocessed.
    async fn batch_put(&self, items: Vec<Item>) -> Result<(), PortError> {
        for chunk in items.chunks(MAX_BATCH_WRITE) {
            let mut requests = chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map_err(|e| PortError::Invalid(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, PortError>>()?;
            for round in 0..BATCH_WRITE_ROUNDS {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| port_error("BatchWriteItem", e))?;
                requests = output.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if round + 1 == BATCH_WRITE_ROUNDS {
                    return Err(PortError::Unavailable(format!(
                        "BatchWriteItem: {} items still unprocessed after {BATCH_WRITE_ROUNDS} rounds",
                        requests.len()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50 << round)).await;
            }
        }
        Ok(())
    }

    /// One page of a partition, in key order or reversed, skipping expired items.
    async fn query_page<T: DeserializeOwned>(
        &self,
        pk: String,
        range: SortRange<'_>,
        forward: bool,
        limit: usize,
        cursor: Option<&str>,
        cursor_prefix: &str,
    ) -> Result<Page<T>, PortError> {
        let limit = i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000);
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(forward)
            .limit(limit)
            .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
            .expression_attribute_values(":now", number(OffsetDateTime::now_utc().unix_timestamp()))
            .expression_attribute_values(":pk", AttributeValue::S(pk.clone()));
        request = match range {
            SortRange::Prefix(prefix) => request
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned())),
            SortRange::Between(low, high) => request
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":low", AttributeValue::S(low))
                .expression_attribute_values(":high", AttributeValue::S(high)),
        };
        if let Some(cursor) = cursor {
            let sk = decode_cursor(cursor, cursor_prefix)?;
            request = request
                .exclusive_start_key("pk", AttributeValue::S(pk))
                .exclusive_start_key("sk", AttributeValue::S(sk));
        }
        let output = request.send().await.map_err(|e| port_error("Query", e))?;
        let items = output.items().iter().map(decode).collect::<Result<Vec<T>, _>>()?;
        let next_cursor = output
            .last_evaluated_key()
            .and_then(|key| key.get("sk"))
            .and_then(|sk| sk.as_s().ok())
            .map(|sk| URL_SAFE_NO_PAD.encode(sk));
        Ok(Page { items, next_cursor })
    }
}

/// Which sort keys of a partition a query reads.
enum SortRange<'a> {
    Prefix(&'a str),
    Between(String, String),
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn expired(item: &Item, now: OffsetDateTime) -> bool {
    item.get("expires_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|at| at <= now.unix_timestamp())
}

fn encode<T: Serialize>(pk: String, sk: String, record: &T) -> Result<Item, PortError> {
    let doc = serde_json::to_string(record).map_err(|e| PortError::Invalid(e.to_string()))?;
    Ok(HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
        ("doc".to_owned(), AttributeValue::S(doc)),
    ]))
}

fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, PortError> {
    let doc = item
        .get("doc")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| PortError::Corrupt("item has no doc attribute".into()))?;
    serde_json::from_str(doc).map_err(|e| PortError::Corrupt(format!("stored record does not parse: {e}")))
}

/// A cursor is the last sort key, base64url-encoded. It must name a key of the kind being
/// listed; anything else is refused rather than passed to DynamoDB.
fn decode_cursor(cursor: &str, prefix: &str) -> Result<String, PortError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|sk| sk.starts_with(prefix) && sk.len() <= 64)
        .ok_or_else(|| PortError::Invalid("the cursor is not one this API handed out".into()))
}

fn subscription_key(tenant: &TenantId, id: &SubscriptionId) -> (String, String) {
    (format!("T#{tenant}"), format!("SUB#{id}"))
}

fn event_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#EVT")
}

fn attempt_pk(tenant: &TenantId, subscription: &SubscriptionId) -> String {
    format!("T#{tenant}#ATT#{subscription}")
}

fn delivered_pk(tenant: &TenantId, subscription: &SubscriptionId) -> String {
    format!("T#{tenant}#DLV#{subscription}")
}

fn idempotency_pk(owner: &KeyOwner, key: &str) -> String {
    // An owner never holds `#`, so the key after it cannot make two pairs collide.
    format!("IDEM#{}#{key}", owner.as_str())
}

fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

fn key_id_pk(id: &ApiKeyId) -> String {
    format!("KEYID#{id}")
}

fn owner_partition(owner: &KeyOwner) -> String {
    format!("KEYS#{}", owner.as_str())
}

impl SubscriptionStore for DynamoStore {
    async fn create(&self, subscription: &Subscription) -> Result<(), PortError> {
        let (pk, sk) = subscription_key(&subscription.tenant, &subscription.id);
        let mut item = encode(pk, sk, subscription)?;
        item.insert("version".into(), number(subscription.version));
        self.put(item, Some("attribute_not_exists(pk)"), None).await
    }

    async fn get(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<Option<Subscription>, PortError> {
        let (pk, sk) = subscription_key(tenant, id);
        Ok(self.get_doc(pk, sk).await?.map(|(sub, _)| sub))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Subscription>, PortError> {
        self.query_page(format!("T#{tenant}"), SortRange::Prefix("SUB#"), true, limit, cursor, "SUB#").await
    }

    async fn list_all(&self, tenant: &TenantId) -> Result<Vec<Subscription>, PortError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let page: Page<Subscription> = SubscriptionStore::list(self, tenant, 1000, cursor.as_deref()).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    async fn update(&self, subscription: &Subscription) -> Result<(), PortError> {
        let (pk, sk) = subscription_key(&subscription.tenant, &subscription.id);
        let mut item = encode(pk, sk, subscription)?;
        item.insert("version".into(), number(subscription.version));
        let previous = HashMap::from([(":previous".to_owned(), number(subscription.version.saturating_sub(1)))]);
        self.put(item, Some("version = :previous"), Some(previous)).await
    }

    async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<bool, PortError> {
        let (pk, sk) = subscription_key(tenant, id);
        let output = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("DeleteItem", e))?;
        Ok(output.attributes.is_some_and(|old| !old.is_empty()))
    }
}

impl EventLog for DynamoStore {
    async fn append(&self, events: &[Event]) -> Result<(), PortError> {
        let items = events
            .iter()
            .map(|event| {
                let mut item = encode(event_pk(&event.tenant), event.id.to_string(), event)?;
                item.insert("expires_at".into(), number(self.expiry(event.timestamp)));
                Ok(item)
            })
            .collect::<Result<Vec<_>, PortError>>()?;
        self.batch_put(items).await
    }

    async fn get(&self, tenant: &TenantId, id: &EventId) -> Result<Option<Event>, PortError> {
        Ok(self.get_doc(event_pk(tenant), id.to_string()).await?.map(|(event, _)| event))
    }

    async fn list(
        &self,
        tenant: &TenantId,
        window: TimeWindow,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Event>, PortError> {
        // Ids are stamped with the same clock as the timestamp, so the id range is the window.
        let low = EventId::lower_bound(window.since).to_string();
        let until = window.until - time::Duration::milliseconds(1);
        if until < window.since {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        }
        let high = EventId::upper_bound(until).to_string();
        self.query_page(event_pk(tenant), SortRange::Between(low, high), true, limit, cursor, EventId::PREFIX).await
    }
}

impl AttemptLog for DynamoStore {
    async fn record(&self, attempt: &Attempt) -> Result<(), PortError> {
        let mut item = encode(attempt_pk(&attempt.tenant, &attempt.subscription_id), attempt.id.to_string(), attempt)?;
        item.insert("expires_at".into(), number(self.expiry(attempt.at)));
        self.put(item, None, None).await
    }

    async fn list(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<Attempt>, PortError> {
        self.query_page(attempt_pk(tenant, subscription), SortRange::Prefix("att_"), false, limit, cursor, "att_").await
    }

    async fn mark_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
        at: OffsetDateTime,
    ) -> Result<(), PortError> {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(delivered_pk(tenant, subscription))),
            ("sk".to_owned(), AttributeValue::S(delivery_key.to_owned())),
            ("expires_at".to_owned(), number(self.expiry(at))),
        ]);
        self.put(item, None, None).await
    }

    async fn was_delivered(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        delivery_key: &str,
    ) -> Result<bool, PortError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(delivered_pk(tenant, subscription)))
            .key("sk", AttributeValue::S(delivery_key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        Ok(output.item.is_some_and(|item| !expired(&item, OffsetDateTime::now_utc())))
    }
}

impl DynamoStore {
    fn idempotency_item(record: &IdempotencyRecord) -> Result<Item, PortError> {
        let mut item = encode(idempotency_pk(&record.owner, &record.key), "IDEM".into(), record)?;
        item.insert("expires_at".into(), number(record.expires_at().unix_timestamp()));
        item.insert("version".into(), number(record.version));
        Ok(item)
    }
}

impl IdempotencyStore for DynamoStore {
    async fn claim(&self, record: &IdempotencyRecord) -> Result<(), PortError> {
        let item = Self::idempotency_item(record)?;
        let now = HashMap::from([(":now".to_owned(), number(OffsetDateTime::now_utc().unix_timestamp()))]);
        // An expired record DynamoDB has not deleted yet does not hold the key.
        self.put(item, Some("attribute_not_exists(pk) OR expires_at <= :now"), Some(now)).await
    }

    async fn get(&self, owner: &KeyOwner, key: &str) -> Result<Option<IdempotencyRecord>, PortError> {
        Ok(self.get_doc(idempotency_pk(owner, key), "IDEM".into()).await?.map(|(record, _)| record))
    }

    async fn replace(&self, record: &IdempotencyRecord) -> Result<(), PortError> {
        let item = Self::idempotency_item(record)?;
        let previous = HashMap::from([(":v".to_owned(), number(record.version.saturating_sub(1)))]);
        self.put(item, Some("version = :v"), Some(previous)).await
    }
}

impl ApiKeyStore for DynamoStore {
    async fn create(&self, key: &ApiKey) -> Result<(), PortError> {
        let mut item = encode(key_pk(&key.key_hash), "KEY".into(), key)?;
        item.insert("gsi1pk".into(), AttributeValue::S(owner_partition(&key.owner)));
        item.insert("gsi1sk".into(), AttributeValue::S(key.id.to_string()));
        let pointer = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(key_id_pk(&key.id))),
            ("sk".to_owned(), AttributeValue::S("KEYID".into())),
            ("key_hash".to_owned(), AttributeValue::S(key.key_hash.clone())),
        ]);
        let put = |item: Item| {
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|put| TransactWriteItem::builder().put(put).build())
                .map_err(|e| PortError::Invalid(e.to_string()))
        };
        let result =
            self.client.transact_write_items().transact_items(put(item)?).transact_items(put(pointer)?).send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_transaction_canceled_exception()) => {
                Err(PortError::Conflict(format!("API key {} exists", key.id)))
            }
            Err(err) => Err(port_error("TransactWriteItems", err)),
        }
    }

    async fn find_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, PortError> {
        Ok(self.get_doc(key_pk(key_hash), "KEY".into()).await?.map(|(key, _)| key))
    }

    async fn list(&self, owner: &KeyOwner) -> Result<Vec<ApiKey>, PortError> {
        let mut keys = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :owner")
                .expression_attribute_values(":owner", AttributeValue::S(owner_partition(owner)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| port_error("Query", e))?;
            for item in output.items() {
                keys.push(decode(item)?);
            }
            match output.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(keys),
            }
        }
    }

    async fn revoke(&self, id: &ApiKeyId, at: OffsetDateTime) -> Result<bool, PortError> {
        let pointer = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key_id_pk(id)))
            .key("sk", AttributeValue::S("KEYID".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error("GetItem", e))?;
        let Some(hash) = pointer.item.as_ref().and_then(|i| i.get("key_hash")).and_then(|v| v.as_s().ok()) else {
            return Ok(false);
        };
        let Some((mut key, item)) = self.get_doc::<ApiKey>(key_pk(hash), "KEY".into()).await? else {
            return Ok(false);
        };
        if key.revoked_at.is_none() {
            key.revoked_at = Some(at);
            let mut updated = encode(key_pk(hash), "KEY".into(), &key)?;
            for attribute in ["gsi1pk", "gsi1sk"] {
                if let Some(value) = item.get(attribute) {
                    updated.insert(attribute.into(), value.clone());
                }
            }
            self.put(updated, Some("attribute_exists(pk)"), None).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_only_name_keys_of_the_listed_kind() {
        let cursor = URL_SAFE_NO_PAD.encode("SUB#sub_01JEXAMPLE");
        assert_eq!(decode_cursor(&cursor, "SUB#").expect("valid"), "SUB#sub_01JEXAMPLE");
        assert!(decode_cursor(&cursor, "att_").is_err());
        assert!(decode_cursor("%%%", "SUB#").is_err());
        let forged = URL_SAFE_NO_PAD.encode(format!("SUB#{}", "x".repeat(100)));
        assert!(decode_cursor(&forged, "SUB#").is_err());
    }

    #[test]
    fn expiry_is_read_from_the_ttl_attribute() {
        let now = OffsetDateTime::now_utc();
        let mut item = Item::new();
        assert!(!expired(&item, now));
        item.insert("expires_at".into(), number(now.unix_timestamp() - 1));
        assert!(expired(&item, now));
        item.insert("expires_at".into(), number(now.unix_timestamp() + 60));
        assert!(!expired(&item, now));
    }
}
