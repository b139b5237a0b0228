//! The end-to-end tests, linked into one binary: each module starts the
//! suite (or the parts it needs) and tries one capability through the
//! gateway, as users and operators would.

mod common;
mod gateway_support;

mod access;
mod audit;
mod auth;
mod calendar;
mod crash;
mod evaluation;
mod events;
mod federation;
mod gateway_limits;
mod http;
mod intake;
mod migrations;
mod oidc;
mod policy;
mod portal;
mod reference;
mod routing;
mod scoring;
