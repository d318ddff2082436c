//! Capabilities: the only way to reach privileged or tenant data.
//!
//! A service operation asks for the capability it needs (`AdminOps`, `StaffRead`,
//! `AccountScope`); the only constructors are the checks below, so an operation that
//! forgets its check does not compile. Accounts a caller may not see answer 404, never
//! 403, so ids of other tenants do not leak.

mod caller;
mod deferred;

pub use caller::{peer_ip, Caller};
pub use deferred::Deferred;

use crate::accounts::{store as accounts_store, MembershipRole};
use crate::db::Db;
use crate::error::AppError;
use crate::users::PlatformRole;

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub ip: Option<String>,
}

/// Proof that the caller is a platform admin.
#[derive(Debug)]
pub struct AdminOps(Actor);

impl AdminOps {
    pub fn actor(&self) -> &Actor {
        &self.0
    }
}

/// Proof that the caller may read across tenants (admin or support).
#[derive(Debug)]
pub struct StaffRead(());

/// What the caller needs to do within one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountNeed {
    /// Read the account (members, owners, admins, support).
    Read,
    /// Act as a member: keys of their own, logs (members, owners, admins).
    Use,
    /// Manage the account: members, settings, billing (owners, admins).
    Manage,
    /// Read the account's money: balance, low-balance threshold, ledger, spend (owners,
    /// admins, support; never plain members, who have "no billing"). Every place that
    /// shows an account's money asks this, so members see it nowhere.
    ReadBilling,
}

impl AccountNeed {
    /// Whether a caller who can see the account, with this platform role and membership
    /// in it, has this need met: the one table of who may what in an account.
    fn met_by(self, role: PlatformRole, membership: Option<MembershipRole>) -> bool {
        match self {
            AccountNeed::Read => true,
            AccountNeed::Use => role == PlatformRole::Admin || membership.is_some(),
            AccountNeed::Manage => role == PlatformRole::Admin || membership == Some(MembershipRole::Owner),
            AccountNeed::ReadBilling => role != PlatformRole::User || membership == Some(MembershipRole::Owner),
        }
    }
}

/// Proof that the caller may act on one account, and how.
#[derive(Debug)]
pub struct AccountScope {
    account_id: String,
    membership: Option<MembershipRole>,
    actor: Actor,
    role: PlatformRole,
}

impl AccountScope {
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The caller's own role in the account (`None` for admins and support acting from outside).
    pub fn membership(&self) -> Option<MembershipRole> {
        self.membership
    }

    /// Owners and admins see everything in the account; members only what is theirs.
    pub fn sees_everything(&self) -> bool {
        self.role != PlatformRole::User || self.membership == Some(MembershipRole::Owner)
    }

    /// Whether the caller may also `need` in this account (say, see its money).
    pub fn allows(&self, need: AccountNeed) -> bool {
        need.met_by(self.role, self.membership)
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor { user_id: self.user.id.clone(), ip: self.ip.clone() }
    }

    pub fn admin(&self) -> Result<AdminOps, AppError> {
        match self.user.role {
            PlatformRole::Admin => Ok(AdminOps(self.actor())),
            _ => Err(AppError::Forbidden),
        }
    }

    pub fn staff_reader(&self) -> Result<StaffRead, AppError> {
        match self.user.role {
            PlatformRole::Admin | PlatformRole::Support => Ok(StaffRead(())),
            PlatformRole::User => Err(AppError::Forbidden),
        }
    }

    pub async fn account(&self, db: &Db, account_id: &str, need: AccountNeed) -> Result<AccountScope, AppError> {
        let exists = accounts_store::exists(db, account_id).await?;
        let membership = if exists { accounts_store::membership(db, account_id, &self.user.id).await? } else { None };
        let role = self.user.role;
        let visible = exists && (membership.is_some() || role != PlatformRole::User);
        if !visible {
            return Err(AppError::not_found("account"));
        }
        if !need.met_by(role, membership) {
            return Err(AppError::Forbidden);
        }
        Ok(AccountScope { account_id: account_id.to_owned(), membership, actor: self.actor(), role })
    }

    /// Whether the caller, a member of an account as `membership` says (`None`: not a
    /// member), has `need` met there; for lists of accounts the caller was found in.
    pub fn allows_in(&self, membership: Option<MembershipRole>, need: AccountNeed) -> bool {
        need.met_by(self.user.role, membership)
    }
}
