//! Twilio conferences as the simulated phones live them: a `<Dial><Conference>` puts a
//! call in the room of that name (made on first entry); a participant who enters with
//! `startConferenceOnEnter` starts it (until then everyone in it is on hold, hearing
//! the `waitUrl`); one who leaves with `endConferenceOnExit` ends it for everyone, whose
//! `<Dial>` then returns and whose TwiML goes on. The fake REST API lists the rooms
//! (`Conferences.json`, `Participants.json`) from here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

/// Every conference of one fake Twilio. Cheap to clone: clones share the rooms.
#[derive(Debug, Clone, Default)]
pub struct Conferences {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: Mutex<BTreeMap<String, Room>>,
    changed: Notify,
}

/// One conference, by friendly name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// `CF…`.
    pub sid: String,
    pub name: String,
    /// `init` (nobody has started it), `in-progress`, `completed`.
    pub status: String,
    /// Everyone who is in it now, in order of arrival.
    pub participants: Vec<Participant>,
    /// Everyone who ever joined, in order: the call SIDs.
    pub joined: Vec<String>,
    pub created: DateTime<Utc>,
}

/// A call in a conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub call_sid: String,
    pub start_on_enter: bool,
    pub end_on_exit: bool,
    /// On hold: the conference has not started (`waitUrl` playing).
    pub hold: bool,
}

/// How a participant's stay ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Someone with `endConferenceOnExit` left, or it was ended: `<Dial>` returns.
    Ended,
    /// This call left by itself (hung up, redirected).
    Itself,
}

impl Conferences {
    fn rooms(&self) -> MutexGuard<'_, BTreeMap<String, Room>> {
        self.inner
            .rooms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `call_sid` enters `name`.
    pub fn join(&self, name: &str, call_sid: &str, start_on_enter: bool, end_on_exit: bool) {
        {
            let mut rooms = self.rooms();
            let fresh = rooms.get(name).is_none_or(|r| r.status == "completed");
            if fresh {
                rooms.insert(
                    name.to_owned(),
                    Room {
                        sid: format!("CF{}", uuid::Uuid::new_v4().simple()),
                        name: name.to_owned(),
                        status: "init".to_owned(),
                        participants: Vec::new(),
                        joined: Vec::new(),
                        created: Utc::now(),
                    },
                );
            }
            if let Some(room) = rooms.get_mut(name) {
                if start_on_enter {
                    room.status = "in-progress".to_owned();
                }
                room.participants.push(Participant {
                    call_sid: call_sid.to_owned(),
                    start_on_enter,
                    end_on_exit,
                    hold: false,
                });
                room.joined.push(call_sid.to_owned());
                let waiting = room.status == "init";
                for p in &mut room.participants {
                    p.hold = waiting;
                }
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// `call_sid` leaves `name` by itself; with `endConferenceOnExit` the room ends.
    pub fn leave(&self, name: &str, call_sid: &str) {
        {
            let mut rooms = self.rooms();
            if let Some(room) = rooms.get_mut(name) {
                let ends = room
                    .participants
                    .iter()
                    .any(|p| p.call_sid == call_sid && p.end_on_exit);
                room.participants.retain(|p| p.call_sid != call_sid);
                if ends || room.participants.is_empty() {
                    room.status = "completed".to_owned();
                    room.participants.clear();
                }
            }
        }
        self.inner.changed.notify_waiters();
    }

    /// Resolves when `call_sid` is no longer in `name` because the room ended.
    pub async fn ended(&self, name: &str, call_sid: &str) -> Left {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let rooms = self.rooms();
                let inside = rooms
                    .get(name)
                    .is_some_and(|r| r.participants.iter().any(|p| p.call_sid == call_sid));
                if !inside {
                    return Left::Ended;
                }
            }
            notified.await;
        }
    }

    /// The room now, if there ever was one by that name.
    pub fn room(&self, name: &str) -> Option<Room> {
        self.rooms().get(name).cloned()
    }

    /// Every room, by name.
    pub fn all(&self) -> Vec<Room> {
        self.rooms().values().cloned().collect()
    }

    /// The room once `pred` holds for it, or `None` after `timeout`.
    pub async fn wait_for(
        &self,
        name: &str,
        pred: impl Fn(&Room) -> bool,
        timeout: std::time::Duration,
    ) -> Option<Room> {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.inner.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(room) = self.room(name).filter(|r| pred(r)) {
                    return room;
                }
                notified.await;
            }
        })
        .await
        .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_waits_until_started_and_ends_with_its_ender() {
        let c = Conferences::default();
        c.join("xfer-1", "CA1", false, true);
        let room = c.room("xfer-1").expect("room");
        assert_eq!(room.status, "init");
        assert!(room.participants[0].hold);
        c.join("xfer-1", "CA2", true, true);
        let room = c.room("xfer-1").expect("room");
        assert_eq!(room.status, "in-progress");
        assert!(room.participants.iter().all(|p| !p.hold));
        c.leave("xfer-1", "CA2");
        let room = c.room("xfer-1").expect("room");
        assert_eq!(room.status, "completed");
        assert!(room.participants.is_empty());
        assert_eq!(room.joined, ["CA1", "CA2"]);
    }
}
