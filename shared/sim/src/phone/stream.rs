//! The media stream of one call, Twilio's side: one task owning the socket, one
//! `select!` over the hang-up signals, the 20 ms frame clock, due marks and DTMF, the
//! server's frames and the progress clock. Sends happen in the branch bodies.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt as _, StreamExt as _};
use hotline_audio::SILENCE;
use hotline_twilio::media::{
    Connected, Dtmf, Inbound, Mark, Media, MediaFormat, Outbound, Payload, Start, Stop, Track,
    parse_outbound,
};
use tokio::net::TcpStream;
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{
    Call, HangupSide, MarkRecord, PhoneError, PhoneEvent, Playout, Progress, hangup_requested,
    new_stream_sid, sign,
};

/// One `media` frame: 20 ms, 160 µ-law bytes.
const FRAME: Duration = Duration::from_millis(20);
const FRAME_BYTES: usize = 160;
const PROGRESS_EVERY: Duration = Duration::from_millis(250);
/// How long the upgrade may take (Twilio's own limit is undocumented).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for the other side's close after the stream ended.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

type Sink = SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>;

/// Opens the stream to `connect_to`, signed over `signed_url`, and runs it to its end.
pub(super) async fn run(
    call: &mut Call,
    signed_url: &str,
    connect_to: &str,
) -> Result<(), PhoneError> {
    if !call.spec.stream_setup.is_zero() {
        tokio::time::sleep(call.spec.stream_setup).await;
    }
    let bad_url = |reason: String| PhoneError::StreamUrl {
        url: connect_to.to_owned(),
        reason,
    };
    let mut request = connect_to
        .into_client_request()
        .map_err(|e| bad_url(e.to_string()))?;
    let signature = sign(&call.spec.auth_token, signed_url, &[]);
    request.headers_mut().insert(
        "x-twilio-signature",
        HeaderValue::from_str(&signature).map_err(|e| bad_url(e.to_string()))?,
    );
    let connecting = timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request));
    let Ok(connected) = connecting.await else {
        return Err(PhoneError::StreamTimeout {
            url: connect_to.to_owned(),
            after: CONNECT_TIMEOUT,
        });
    };
    let ws = match connected {
        Ok((ws, _)) => ws,
        Err(tungstenite::Error::Http(response)) => {
            // Twilio's 31920: the stream never started, and the call goes on with the
            // verb after `</Connect>`.
            let status = response.status().as_u16();
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            call.report.stream_refused = Some((status, body));
            call.event(PhoneEvent::StreamRefused { status });
            return Ok(());
        }
        Err(e) => return Err(PhoneError::Stream(Box::new(e))),
    };
    call.event(PhoneEvent::StreamConnected {
        url: connect_to.to_owned(),
    });
    let (sink, mut incoming) = ws.split();
    let mut hangup = call.hangup.take();
    let mut dtmf = call.spec.dtmf.clone();
    dtmf.sort_by_key(|(at, _)| *at);
    let progress = call.progress.clone();

    let mut session = Session {
        stream_sid: new_stream_sid(),
        call,
        sink,
        start: Instant::now(),
        seq: 0,
        playout: Playout::new(),
        playing: false,
        pending: VecDeque::new(),
        overflow_noted: false,
    };
    let end = match session.open().await {
        Err(end) => end,
        Ok(()) => {
            let start = session.start;
            let end_at = start + session.call.spec.duration;
            let mut frames = interval_at(start, FRAME);
            frames.set_missed_tick_behavior(MissedTickBehavior::Burst);
            let mut progress_clock = interval_at(start + PROGRESS_EVERY, PROGRESS_EVERY);
            progress_clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut next_dtmf = 0;
            loop {
                let mark_due = session.playout.next_mark_due().map(|at| start + at);
                let dtmf_due = dtmf.get(next_dtmf).map(|&(at, digit)| (start + at, digit));
                let step = tokio::select! {
                    biased;
                    () = hangup_requested(&mut hangup) => Err(End::Api),
                    () = sleep_until(end_at) => Err(End::Caller),
                    _ = frames.tick() => session.send_media().await,
                    () = sleep_until(mark_due.unwrap_or(end_at)), if mark_due.is_some() => {
                        session.advance().await
                    }
                    () = sleep_until(dtmf_due.map_or(end_at, |(at, _)| at)), if dtmf_due.is_some() => {
                        next_dtmf += 1;
                        match dtmf_due {
                            Some((_, digit)) => session.send_dtmf(digit).await,
                            None => Ok(()),
                        }
                    }
                    message = incoming.next() => session.receive(message).await,
                    _ = progress_clock.tick(), if progress.is_some() => {
                        if let Some(tx) = &progress {
                            // Never hold up the audio for a slow reader.
                            let _ = tx.try_send(session.progress());
                        }
                        Ok(())
                    }
                };
                if let Err(end) = step {
                    break end;
                }
            }
        }
    };

    let side = session.finish(end).await;
    // Wait for the other side's close (or the server's reply to ours), then drop the socket.
    let _ = timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = incoming.next().await {}
    })
    .await;
    let Session {
        call,
        playout,
        start,
        ..
    } = session;
    call.hangup = hangup;
    call.report.stream_duration = start.elapsed();
    call.report.bytes_heard = playout.bytes_heard();
    call.report.bytes_discarded = playout.bytes_discarded();
    call.report.heard = playout.into_heard();
    call.end(side);
    Ok(())
}

/// Why the stream loop stopped.
enum End {
    /// The caller hung up at the call's duration.
    Caller,
    /// The hang-up signal fired.
    Api,
    /// The server closed the socket, or it broke.
    Remote { code: Option<u16>, reason: String },
}

struct Session<'c> {
    call: &'c mut Call,
    sink: Sink,
    stream_sid: String,
    /// When `start` was sent: the stream's clock.
    start: Instant,
    /// The last `sequenceNumber` sent.
    seq: u64,
    playout: Playout,
    /// Whether server audio was playing when last looked.
    playing: bool,
    /// Indexes in `call.report.marks` of marks not yet echoed, in order.
    pending: VecDeque<usize>,
    overflow_noted: bool,
}

impl Session<'_> {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    async fn send(&mut self, text: String) -> Result<(), End> {
        self.sink
            .send(Message::text(text))
            .await
            .map_err(|e| End::Remote {
                code: None,
                reason: format!("send failed: {e}"),
            })
    }

    /// `connected`, then `start` with sequence number 1.
    async fn open(&mut self) -> Result<(), End> {
        let connected = Inbound::Connected(Connected {
            protocol: Some("Call".to_owned()),
            version: Some("1.0.0".to_owned()),
        });
        self.send(connected.to_json()).await?;
        let start = Inbound::Start(Start {
            sequence_number: Some(self.next_seq()),
            stream_sid: self.stream_sid.clone(),
            account_sid: self.call.spec.account_sid.as_str().to_owned(),
            call_sid: self.call.report.call_sid.as_str().to_owned(),
            tracks: vec![Track::Inbound],
            custom_parameters: self.call.report.parameters.clone(),
            media_format: MediaFormat {
                encoding: "audio/x-mulaw".to_owned(),
                sample_rate: 8000,
                channels: 1,
            },
        });
        self.send(start.to_json()).await?;
        self.start = Instant::now();
        self.call.report.stream_sid = Some(self.stream_sid.clone());
        self.call.report.stream_started_at = Some(self.call.clock.elapsed());
        self.call.event(PhoneEvent::StreamStarted {
            stream_sid: self.stream_sid.clone(),
        });
        Ok(())
    }

    /// The next 20 ms of caller audio; its chunk and timestamp follow the schedule, not
    /// the wall clock, so a late frame keeps its place.
    async fn send_media(&mut self) -> Result<(), End> {
        let index = self.call.report.frames_sent;
        let offset = usize::try_from(index).map_or(usize::MAX, |i| i.saturating_mul(FRAME_BYTES));
        let mut frame = [SILENCE; FRAME_BYTES];
        if let Some(audio) = self.call.audio.get(offset..) {
            let len = audio.len().min(FRAME_BYTES);
            frame[..len].copy_from_slice(&audio[..len]);
        }
        let media = Inbound::Media(Media {
            sequence_number: Some(self.next_seq()),
            stream_sid: Cow::Borrowed(&self.stream_sid),
            track: Track::Inbound,
            chunk: index + 1,
            timestamp: index * 20,
            payload: Payload::from_base64(STANDARD.encode(frame)),
        })
        .to_json();
        self.send(media).await?;
        self.call.report.frames_sent += 1;
        self.advance().await
    }

    async fn send_dtmf(&mut self, digit: char) -> Result<(), End> {
        let mut buf = [0; 4];
        let dtmf = Inbound::Dtmf(Dtmf {
            sequence_number: Some(self.next_seq()),
            stream_sid: Cow::Borrowed(&self.stream_sid),
            track: Track::Inbound,
            digit: Cow::Borrowed(digit.encode_utf8(&mut buf)),
        })
        .to_json();
        self.send(dtmf).await?;
        self.call.report.dtmf_sent.push(digit);
        self.call.event(PhoneEvent::DtmfSent(digit));
        Ok(())
    }

    /// Plays the buffer up to now and echoes the marks that came due.
    async fn advance(&mut self) -> Result<(), End> {
        let due = self.playout.advance(self.now());
        self.echo(due, false).await
    }

    /// Echoes marks, in order (the order they were queued in).
    async fn echo(&mut self, names: Vec<String>, cleared: bool) -> Result<(), End> {
        for name in names {
            let mark = Inbound::Mark(Mark {
                sequence_number: Some(self.next_seq()),
                stream_sid: Cow::Borrowed(&self.stream_sid),
                name: Cow::Borrowed(&name),
            })
            .to_json();
            self.send(mark).await?;
            let at = self.now();
            self.call.report.marks_sent_back += 1;
            if let Some(record) = self
                .pending
                .pop_front()
                .and_then(|i| self.call.report.marks.get_mut(i))
            {
                record.echoed_at = Some(at);
                record.cleared = cleared;
            }
            self.call.event(PhoneEvent::MarkEchoed { name, cleared });
        }
        self.note_playing();
        Ok(())
    }

    fn note_playing(&mut self) {
        let playing = self.playout.is_playing();
        if playing != self.playing {
            self.playing = playing;
            self.call.event(if playing {
                PhoneEvent::AudioStarted
            } else {
                PhoneEvent::AudioStopped
            });
        }
    }

    /// One frame from the server.
    async fn receive(
        &mut self,
        message: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<(), End> {
        match message {
            Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
            Some(Ok(Message::Binary(bytes))) => {
                self.call.violation(format!(
                    "binary frame of {} bytes: Twilio expects JSON text frames",
                    bytes.len()
                ));
                Ok(())
            }
            Some(Ok(Message::Close(frame))) => Err(End::Remote {
                code: frame.as_ref().map(|f| u16::from(f.code)),
                reason: frame
                    .map(|f| f.reason.as_str().to_owned())
                    .unwrap_or_default(),
            }),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(()),
            Some(Err(e)) => Err(End::Remote {
                code: None,
                reason: e.to_string(),
            }),
            None => Err(End::Remote {
                code: None,
                reason: "connection closed without a close frame".to_owned(),
            }),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), End> {
        let message = match parse_outbound(text) {
            Ok(message) => message,
            Err(e) => {
                let head: String = text.chars().take(80).collect();
                self.call.violation(format!("{e}: {head:?}"));
                return Ok(());
            }
        };
        if message.stream_sid() != self.stream_sid {
            self.call.violation(format!(
                "frame for streamSid {:?}, not {:?}: Twilio ignores it",
                message.stream_sid(),
                self.stream_sid
            ));
            return Ok(());
        }
        let now = self.now();
        match message {
            Outbound::Media { payload, .. } => {
                let audio = match payload.decode() {
                    Ok(audio) => audio,
                    Err(e) => {
                        self.call
                            .violation(format!("media payload is not base64: {e}"));
                        return Ok(());
                    }
                };
                if audio.starts_with(b"RIFF") || audio.starts_with(b".snd") {
                    self.call.violation(
                        "media payload starts with a WAV/AU header: plays as noise".to_owned(),
                    );
                }
                self.call.report.frames_received += 1;
                self.call.report.bytes_received += audio.len() as u64;
                let due = self.playout.push_audio(now, &audio);
                if self.playout.overflowed() && !self.overflow_noted {
                    self.overflow_noted = true;
                    self.call.violation(
                        "more than 10 minutes of audio buffered: Twilio discards the rest (31931)"
                            .to_owned(),
                    );
                }
                self.echo(due, false).await
            }
            Outbound::Mark { name, .. } => {
                self.pending.push_back(self.call.report.marks.len());
                self.call.report.marks.push(MarkRecord {
                    name: name.into_owned(),
                    received_at: now,
                    echoed_at: None,
                    cleared: false,
                });
                let name = self
                    .call
                    .report
                    .marks
                    .last()
                    .map(|m| m.name.clone())
                    .unwrap_or_default();
                let due = self.playout.push_mark(now, name);
                self.echo(due, false).await
            }
            Outbound::Clear { .. } => {
                let due = self.playout.advance(now);
                self.echo(due, false).await?;
                let discarded_before = self.playout.bytes_discarded();
                let flushed = self.playout.clear(now);
                self.call.report.clears.push(now);
                self.call.event(PhoneEvent::Clear {
                    discarded_bytes: self.playout.bytes_discarded() - discarded_before,
                    marks_echoed: flushed.len(),
                });
                self.echo(flushed, true).await
            }
        }
    }

    fn progress(&self) -> Progress {
        let report = &self.call.report;
        Progress {
            elapsed: self.now(),
            frames_sent: report.frames_sent,
            frames_received: report.frames_received,
            marks: report.marks_sent_back,
            clears: report.clears.len(),
            bytes_heard: self.playout.bytes_heard(),
            playing: self.playout.is_playing(),
        }
    }

    /// Ends the stream from our side when we hang up (`stop`, then a close), or answers
    /// the server's close; unplayed audio is discarded. Returns who hung up.
    async fn finish(&mut self, end: End) -> HangupSide {
        let side = match end {
            End::Caller => HangupSide::Caller,
            End::Api => HangupSide::Api,
            End::Remote { code, reason } => HangupSide::Remote { code, reason },
        };
        if matches!(side, HangupSide::Caller | HangupSide::Api) {
            // Marks that came due before the hang-up still go out.
            let mut sent = self.advance().await.is_ok();
            if sent {
                let stop = Inbound::Stop(Stop {
                    sequence_number: Some(self.next_seq()),
                    stream_sid: self.stream_sid.clone(),
                    account_sid: self.call.spec.account_sid.as_str().to_owned(),
                    call_sid: self.call.report.call_sid.as_str().to_owned(),
                })
                .to_json();
                sent = self.send(stop).await.is_ok();
            }
            if sent {
                self.call.event(PhoneEvent::StopSent);
                let close = CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                };
                let _ = self.sink.send(Message::Close(Some(close))).await;
            }
        } else {
            // Flushes tungstenite's reply to the server's close.
            let _ = self.sink.close().await;
        }
        self.playout.hang_up(self.now());
        self.note_playing();
        side
    }
}
