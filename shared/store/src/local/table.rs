use async_trait::async_trait;
use hotline_core::ports::{StoreError, StoreResult};
use rusqlite::{OptionalExtension, params};

use super::db::{Db, unavailable};
use crate::table::{Condition, Index, Item, Query, Table, Written, epoch_now, next_version};

/// Inserts an item (parameters 1 to 9) or, where its key is taken, replaces the stored
/// one only if the `WHERE` that follows holds of it (`items`: the stored row).
const UPSERT: &str =
    "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = excluded.gsi1pk,
       gsi1sk = excluded.gsi1sk, version = excluded.version,
       data = excluded.data, gsi2pk = excluded.gsi2pk,
       gsi2sk = excluded.gsi2sk, ttl = excluded.ttl";

/// DynamoDB's item size limit (400 KB), mirrored.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The single table in SQLite.
#[derive(Clone)]
pub struct SqliteTable {
    db: Db,
}

impl SqliteTable {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

fn row_to_item(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Item, String)> {
    let gsi1pk: Option<String> = row.get(2)?;
    let gsi1sk: Option<String> = row.get(3)?;
    let version: i64 = row.get(4)?;
    let data: String = row.get(5)?;
    let gsi2pk: Option<String> = row.get(6)?;
    let gsi2sk: Option<String> = row.get(7)?;
    let ttl: Option<i64> = row.get(8)?;
    Ok((
        Item {
            pk: row.get(0)?,
            sk: row.get(1)?,
            gsi1: gsi1pk.zip(gsi1sk),
            gsi2: gsi2pk.zip(gsi2sk),
            version: u64::try_from(version).unwrap_or_default(),
            data: serde_json::Value::Null,
            expires_at: ttl,
        },
        data,
    ))
}

fn parse_data((mut item, data): (Item, String)) -> StoreResult<Item> {
    item.data = serde_json::from_str(&data)
        .map_err(|e| StoreError::Corrupt(format!("{}/{}: {e}", item.pk, item.sk)))?;
    Ok(item)
}

#[async_trait]
impl Table for SqliteTable {
    async fn delete(&self, pk: &str, sk: &str, version: u64) -> StoreResult<Written> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.db
            .run(move |conn| {
                let changed = conn
                    .execute(
                        "DELETE FROM items WHERE pk = ?1 AND sk = ?2 AND version = ?3",
                        params![pk, sk, version],
                    )
                    .map_err(unavailable)?;
                Ok(if changed == 0 {
                    Written::ConditionFailed
                } else {
                    Written::Yes
                })
            })
            .await
    }

    async fn remove_expired(&self, now: i64) -> StoreResult<usize> {
        self.db
            .run(move |conn| {
                conn.execute(
                    "DELETE FROM items WHERE ttl IS NOT NULL AND ttl <= ?1",
                    params![now],
                )
                .map_err(unavailable)
            })
            .await
    }

    async fn put(&self, item: &Item, condition: Condition) -> StoreResult<Written> {
        let data =
            serde_json::to_string(&item.data).map_err(|e| StoreError::Invalid(e.to_string()))?;
        // DynamoDB's limit, so that a record too large for production fails here too.
        if data.len() + item.pk.len() + item.sk.len() > MAX_ITEM_BYTES {
            return Err(StoreError::Invalid(format!(
                "{}/{}: item of {} bytes exceeds the {MAX_ITEM_BYTES}-byte item limit",
                item.pk,
                item.sk,
                data.len()
            )));
        }
        let version = i64::try_from(next_version(item, condition))
            .map_err(|_| StoreError::Invalid("version overflow".into()))?;
        let (gsi1pk, gsi1sk) = item.gsi1.clone().unzip();
        let (gsi2pk, gsi2sk) = item.gsi2.clone().unzip();
        let (pk, sk, ttl) = (item.pk.clone(), item.sk.clone(), item.expires_at);
        let now = epoch_now();
        self.db
            .run(move |conn| {
                let changed = match condition {
                    Condition::Always => conn.execute(
                        "INSERT OR REPLACE INTO items (pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                        params![pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl],
                    ),
                    // An expired item is absent: its key is free (DynamoDB: the same).
                    Condition::Absent => conn.execute(
                        &format!("{UPSERT} WHERE items.ttl IS NOT NULL AND items.ttl <= ?10"),
                        params![pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl, now],
                    ),
                    Condition::Version(expected) => conn.execute(
                        "UPDATE items SET gsi1pk = ?3, gsi1sk = ?4, version = ?5, data = ?6,
                                          gsi2pk = ?8, gsi2sk = ?9, ttl = ?10
                         WHERE pk = ?1 AND sk = ?2 AND version = ?7",
                        params![
                            pk,
                            sk,
                            gsi1pk,
                            gsi1sk,
                            version,
                            data,
                            i64::try_from(expected).unwrap_or(i64::MAX),
                            gsi2pk,
                            gsi2sk,
                            ttl
                        ],
                    ),
                    Condition::AbsentOrSameOrg => conn.execute(
                        &format!(
                            "{UPSERT} WHERE json_extract(items.data, '$.org')
                                 = json_extract(excluded.data, '$.org')"
                        ),
                        params![pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl],
                    ),
                }
                .map_err(unavailable)?;
                Ok(if changed == 0 {
                    Written::ConditionFailed
                } else {
                    Written::Yes
                })
            })
            .await
    }

    async fn get(&self, pk: &str, sk: &str) -> StoreResult<Option<Item>> {
        let (pk, sk) = (pk.to_owned(), sk.to_owned());
        let now = epoch_now();
        let row = self
            .db
            .run(move |conn| {
                conn.query_row(
                    "SELECT pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl FROM items
                     WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
                    params![pk, sk, now],
                    row_to_item,
                )
                .optional()
                .map_err(unavailable)
            })
            .await?;
        row.map(parse_data).transpose()
    }

    async fn query(&self, query: &Query) -> StoreResult<Vec<Item>> {
        let (pk_col, sk_col) = match query.index {
            Index::Primary => ("pk", "sk"),
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        };
        let order = if query.descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT pk, sk, gsi1pk, gsi1sk, version, data, gsi2pk, gsi2sk, ttl FROM items
             WHERE {pk_col} = ?1 AND substr({sk_col}, 1, length(?2)) = ?2
               AND (?4 IS NULL OR {sk_col} < ?4) AND (ttl IS NULL OR ttl > ?5)
             ORDER BY {sk_col} {order} LIMIT ?3"
        );
        let pk = query.pk.clone();
        let prefix = query.sk_prefix.clone();
        let before = query.sk_before.clone();
        let limit = query
            .limit
            .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let now = epoch_now();
        let rows = self
            .db
            .run(move |conn| {
                let mut stmt = conn.prepare_cached(&sql).map_err(unavailable)?;
                let rows = stmt
                    .query_map(params![pk, prefix, limit, before, now], row_to_item)
                    .map_err(unavailable)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(unavailable)?;
                Ok(rows)
            })
            .await?;
        rows.into_iter().map(parse_data).collect()
    }
}
