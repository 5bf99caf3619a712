//! The subscriptions handler end to end over the in-memory stores, with requests shaped as
//! API Gateway REST proxy events.

mod access;
mod attempts;
mod crud;
mod fixtures;
mod replay;
mod secrets;
mod support;
mod validation;
