//! The post-call stages, one module each, in the order they run.

mod analysis;
mod contact;
mod email;
mod recording;
mod todos;
mod transcript;
mod webhook;

use hotline_core::model::Stage;

use crate::job::{JobCx, StageResult};

pub async fn run(stage: Stage, cx: &mut JobCx<'_>) -> StageResult {
    match stage {
        Stage::Recording => recording::run(cx).await,
        Stage::Transcript => transcript::run(cx).await,
        Stage::Analysis => analysis::run(cx).await,
        Stage::Todos => todos::run(cx).await,
        Stage::Contact => contact::run(cx).await,
        Stage::ReportEmail => email::run(cx).await,
        Stage::ReportWebhook => webhook::run(cx).await,
    }
}
