//! The audit log.
use async_trait::async_trait;

use super::rows::{records, StoredAudit, AUDIT_COLUMNS};
use super::{execute, fetch_all, Backend, Stmt};
use crate::store::{timestamp, AuditEntry, AuditStore, StoreError};

const APPEND: &str = "INSERT INTO audit (at, tenant, actor, resource_type, resource_id, action,
        outcome, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

#[async_trait]
impl<B: Backend> AuditStore for B {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let stmt = Stmt::new(APPEND)
            .text(&timestamp(&entry.at))
            .text(&entry.tenant)
            .text(&entry.actor)
            .text(&entry.resource_type)
            .text(&entry.resource_id)
            .text(&entry.action)
            .text(&entry.outcome)
            .text(&entry.detail.to_string());
        execute(self, stmt).await?;
        Ok(())
    }

    /// Newest first.
    async fn list_audit(&self, tenant: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit WHERE tenant = $1 ORDER BY seq DESC LIMIT $2"
        );
        let stmt = Stmt::new(sql).text(tenant).int(i64::from(limit));
        let rows: Vec<StoredAudit> = fetch_all(self, stmt).await?;
        records(rows)
    }
}
