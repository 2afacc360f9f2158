//! One memory per contact: once the call is over and its turns are final, they are
//! stored as the contact's `phone` conversation (`hotline_core::memory::phone_message`),
//! beside their texts. Storing is idempotent per turn, so a redelivered job adds nothing.

use hotline_core::memory::phone_message;
use hotline_core::ports::StoreError;

use crate::job::JobCx;

/// Stores the call's turns as phone messages; how many were new.
pub async fn remember(cx: &JobCx<'_>) -> Result<usize, StoreError> {
    if cx.call.contact.is_none() {
        return Ok(0);
    }
    let turns = cx.deps.calls.turns(&cx.call.sid).await?;
    let mut new = 0;
    for turn in &turns {
        if let Some(message) = phone_message(&cx.call, turn)
            && cx.deps.messages.create_message(&message).await?.is_new()
        {
            new += 1;
        }
    }
    Ok(new)
}
