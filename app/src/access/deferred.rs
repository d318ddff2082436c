//! The input of a change, read only once the caller may make it.
//!
//! A service checks the caller first and only then awaits its input: a caller without
//! permission is answered 403 (or 404 for what it may not see) whatever it sent, and a
//! body it may not send is never parsed. The management API hands services its JSON body
//! unread; the console, whose form fields arrive parsed, hands them its fields as they are
//! or the parsing of its text fields.

use crate::error::AppError;
use std::future::{Future, IntoFuture};
use std::pin::Pin;

pub struct Deferred<T>(Pin<Box<dyn Future<Output = Result<T, AppError>> + Send>>);

impl<T: Send + 'static> Deferred<T> {
    /// An input that is there already.
    pub fn ready(input: T) -> Self {
        Deferred(Box::pin(std::future::ready(Ok(input))))
    }

    /// An input `read` produces when awaited (and not before).
    pub fn new(read: impl Future<Output = Result<T, AppError>> + Send + 'static) -> Self {
        Deferred(Box::pin(read))
    }

    /// An input computed from the fields, when awaited: the checks of a form's text fields.
    pub fn parse(parse: impl FnOnce() -> Result<T, AppError> + Send + 'static) -> Self {
        Deferred::new(async move { parse() })
    }
}

impl<T> IntoFuture for Deferred<T> {
    type Output = Result<T, AppError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<T, AppError>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        self.0
    }
}
