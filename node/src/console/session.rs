//! Console sessions: a login exchanges the API token for a random session
//! id kept here (bounded in number and lifetime), sent back as an
//! `HttpOnly; SameSite=Strict` cookie; each session has its own CSRF token,
//! checked on every form.

use crate::api::constant_time_eq;
use axum::http::HeaderMap;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Sessions held at once; a login beyond this ends the oldest session.
pub const MAX_SESSIONS: usize = 32;
/// How long a session lasts after login.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "riskmesh_session";
/// The login form's CSRF cookie (double submit: the cookie and the form's
/// hidden field must agree).
pub const LOGIN_COOKIE: &str = "riskmesh_login";

/// A live session's secrets.
#[derive(Clone)]
pub(crate) struct Session {
    /// The session id (the cookie's value).
    pub id: String,
    /// The CSRF token its forms carry.
    pub csrf: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(..)")
    }
}

struct Held {
    csrf: String,
    created: Instant,
}

/// The console's sessions, at most [`MAX_SESSIONS`].
#[derive(Default)]
pub struct Sessions {
    held: Mutex<HashMap<String, Held>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").finish_non_exhaustive()
    }
}

/// 256 random bits from the OS generator, hex.
pub(crate) fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Starts a session: drops expired ones, then the oldest if full.
    pub(crate) fn create(&self, now: Instant) -> Session {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|_, s| now.duration_since(s.created) < SESSION_LIFETIME);
        while held.len() >= MAX_SESSIONS {
            let oldest = held
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(id, _)| id.clone());
            match oldest {
                Some(id) => held.remove(&id),
                None => break,
            };
        }
        let session = Session {
            id: random_secret(),
            csrf: random_secret(),
        };
        held.insert(
            session.id.clone(),
            Held {
                csrf: session.csrf.clone(),
                created: now,
            },
        );
        session
    }

    /// The live session with this id, if any.
    pub(crate) fn find(&self, id: &str, now: Instant) -> Option<Session> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let live = held
            .get(id)
            .map(|s| now.duration_since(s.created) < SESSION_LIFETIME)?;
        if !live {
            held.remove(id);
            return None;
        }
        held.get(id).map(|s| Session {
            id: id.to_string(),
            csrf: s.csrf.clone(),
        })
    }

    /// Ends a session.
    pub(crate) fn end(&self, id: &str) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Session {
    /// Whether a form's CSRF token is this session's (constant time).
    pub(crate) fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), self.csrf.as_bytes()))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for the console: `HttpOnly; SameSite=Strict;
/// Path=/console`, ending after `max_age` seconds (0 deletes it).
pub(crate) fn set_cookie(name: &str, value: &str, max_age: u64) -> String {
    format!("{name}={value}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={max_age}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded_and_expire() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let first = sessions.create(start);
        for i in 1..=MAX_SESSIONS {
            sessions.create(start + Duration::from_secs(i as u64));
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(
            sessions.find(&first.id, start).is_none(),
            "the oldest was not ended"
        );
        let late = sessions.create(start + Duration::from_secs(100));
        assert!(
            sessions
                .find(&late.id, start + Duration::from_secs(101))
                .is_some()
        );
        assert!(
            sessions
                .find(&late.id, start + Duration::from_secs(100) + SESSION_LIFETIME)
                .is_none()
        );
    }

    #[test]
    fn a_csrf_token_must_match_exactly() {
        let session = Sessions::default().create(Instant::now());
        assert!(session.csrf_matches(Some(&session.csrf.clone())));
        assert!(!session.csrf_matches(None));
        assert!(!session.csrf_matches(Some("")));
        assert!(!session.csrf_matches(Some(&session.csrf[1..])));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            "a=1; riskmesh_session_x=2; riskmesh_session=3"
                .parse()
                .expect("header"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("3"));
        assert_eq!(cookie(&headers, "b"), None);
    }
}
