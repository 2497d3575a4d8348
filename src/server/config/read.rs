//! How a value is read, whichever source gave it: the environment gives text, the file TOML
//! values (a number may be quoted or not). Each reader works from the text and its error is what
//! a valid value looks like, which the configuration error quotes after the variable's name.

use std::{
    net::SocketAddr,
    ops::{Bound, RangeBounds},
    str::FromStr,
    time::Duration,
};

use figment::value::Value;
use secrecy::SecretString;
use serde::{de::Error, Deserialize, Deserializer};

use super::{topology, Environment, LogFormat, SameSite};
use crate::server::{
    allowed_hosts::AllowedHosts,
    client_address::{ForwardingHeader, TrustedProxies},
};

const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;

/// A value as the user wrote it; `None` for a table or a list.
pub fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(_, text) => Some(text.clone()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(..) => value
            .to_u128()
            .map(|n| n.to_string())
            .or_else(|| value.to_i128().map(|n| n.to_string()))
            .or_else(|| value.to_f64().map(|n| n.to_string())),
        Value::Empty(..) => Some(String::new()),
        Value::Dict(..) | Value::Array(..) => None,
    }
}

fn read<'de, D: Deserializer<'de>, T>(
    d: D,
    expected: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, D::Error> {
    let value = <Value as Deserialize>::deserialize(d)?;
    let text = text_of(&value);
    text.and_then(|text| parse(text.trim()))
        .ok_or_else(|| D::Error::custom(expected))
}

fn number<T: FromStr + PartialOrd>(text: &str, range: impl RangeBounds<T>) -> Option<T> {
    text.parse().ok().filter(|number| range.contains(number))
}

pub fn within<'de, D: Deserializer<'de>, T: TryFrom<u64>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<T, D::Error> {
    let expected = format!("a whole number from {MIN} to {MAX}");
    read(d, &expected, |t| T::try_from(number(t, MIN..=MAX)?).ok())
}

pub fn above_zero<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    read(d, "a whole number above 0", |t| number(t, 1..))
}

pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    read(d, "a TCP port (1-65535)", |t| number(t, 1..))
}

pub fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    read(d, "a fraction from 0 to 0.5", |t| number(t, 0.0..=0.5))
}

/// Fractions let a test wait 200 ms instead of a whole second; the session deadlines are kept
/// in milliseconds (`PEXPIREAT`), so a fraction means what it says.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let expected = "a number of seconds above 0, fractions allowed (at most ten years)";
    let range = (Bound::Excluded(0.0), Bound::Included(TEN_YEARS as f64));
    read(d, expected, |t| number(t, range)).map(Duration::from_secs_f64)
}

pub fn whole_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    read(d, "a whole number of seconds", |t| t.parse().ok()).map(Duration::from_secs)
}

pub fn milliseconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let expected = "a whole number of milliseconds above 0";
    read(d, expected, |t| number(t, 1..=TEN_YEARS)).map(Duration::from_millis)
}

/// At most ten minutes: long enough for any load balancer's health checks to notice.
pub fn drain<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let expected = "a whole number of milliseconds, at most 600000 (0: no drain)";
    read(d, expected, |t| number(t, 0..=600_000)).map(Duration::from_millis)
}

fn on_off(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" => Some(true),
        "false" | "0" | "off" => Some(false),
        _ => None,
    }
}

pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    read(d, "true or false", on_off)
}

/// `auto` is `None`: decided by the environment once every setting is read.
pub fn auto_switch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    read(d, "auto, true or false", |text| {
        match text.eq_ignore_ascii_case("auto") {
            true => Some(None),
            false => on_off(text).map(Some),
        }
    })
}

pub fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogFormat>, D::Error> {
    read(d, "auto, json or pretty", |t| {
        match t.to_ascii_lowercase().as_str() {
            "auto" => Some(None),
            "json" => Some(Some(LogFormat::Json)),
            "pretty" => Some(Some(LogFormat::Pretty)),
            _ => None,
        }
    })
}

pub fn environment<'de, D: Deserializer<'de>>(d: D) -> Result<Environment, D::Error> {
    read(d, "DEV or PROD", |t| {
        match t.to_ascii_lowercase().as_str() {
            "dev" | "development" => Some(Environment::Development),
            "prod" | "production" => Some(Environment::Production),
            _ => None,
        }
    })
}

pub fn same_site<'de, D: Deserializer<'de>>(d: D) -> Result<SameSite, D::Error> {
    read(d, "lax or strict", |t| {
        match t.to_ascii_lowercase().as_str() {
            "lax" => Some(SameSite::Lax),
            "strict" => Some(SameSite::Strict),
            _ => None,
        }
    })
}

pub fn forwarding_header<'de, D: Deserializer<'de>>(d: D) -> Result<ForwardingHeader, D::Error> {
    read(d, "x-forwarded-for or forwarded", ForwardingHeader::parse)
}

pub fn address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    read(d, "an address like 127.0.0.1:3000", |t| t.parse().ok())
}

pub fn some_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    address(d).map(Some)
}

pub fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<TrustedProxies, D::Error> {
    let expected = "addresses or networks (CIDR) separated by commas, like 10.0.0.0/8, 192.168.1.7";
    read(d, expected, TrustedProxies::parse)
}

pub fn allowed_hosts<'de, D: Deserializer<'de>>(d: D) -> Result<AllowedHosts, D::Error> {
    let expected =
        "host names separated by commas, like example.com, www.example.com (or * for any)";
    read(d, expected, AllowedHosts::parse)
}

pub fn redis_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    read(d, topology::URL_FORMS, topology::redis_url).map(Some)
}
