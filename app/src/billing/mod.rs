//! Money: prices, reservations and charges for the gateway, and for people the balance,
//! the ledger, credit grants, redemption codes and trial credit.

pub mod pricing;
