//! One input message in, one output out: its score record for the output topic, or, when it
//! cannot be scored, its original bytes for the dead-letter topic with the error in headers.
//! Buffers are reused from one message to the next.

use std::time::Instant;

use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};

use crate::decision::{Judgments, ModelDir, ReasonsFor};
use crate::schema::Rows;
use crate::stream::commit::{Input, Output, micros_since};
use crate::stream::stateful::{LABELS_HEADER, StateError, Stateful, parse_labels_header};
use crate::telemetry::ConsumerMetrics;
use crate::wire::{Parsed, RowParser, ScoreRecord, Source, WireError};

pub struct Scorer {
    /// The model and policy it scores with; swapped on a reload.
    pub dir: ModelDir,
    reasons_for: ReasonsFor,
    parser: RowParser,
    judgments: Judgments,
    out: Vec<u8>,
    output_topic: String,
    dlq_topic: String,
    log_messages: bool,
    metrics: std::sync::Arc<ConsumerMetrics>,
    /// For a model with a feature spec: the entities' state the features come from.
    stateful: Option<StatefulRows>,
}

/// The state, and the one row and id each event makes.
struct StatefulRows {
    state: Stateful,
    rows: Rows,
    ids: Vec<Option<String>>,
    /// What [`Scorer::prepare`] made of the message: its row, or why it cannot be scored.
    prepared: Result<(), WireError>,
}

impl Scorer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dir: ModelDir,
        reasons_for: ReasonsFor,
        id: Option<String>,
        max_message_bytes: usize,
        output_topic: &str,
        dlq_topic: &str,
        log_messages: bool,
        metrics: std::sync::Arc<ConsumerMetrics>,
        stateful: Option<Stateful>,
    ) -> Self {
        let parser = RowParser::new(std::sync::Arc::clone(dir.model.schema_arc()), id, max_message_bytes);
        let width = dir.model.schema().width();
        Self {
            dir,
            reasons_for,
            parser,
            judgments: Judgments::default(),
            out: Vec::with_capacity(512),
            output_topic: output_topic.to_string(),
            dlq_topic: dlq_topic.to_string(),
            log_messages,
            metrics,
            stateful: stateful.map(|state| StatefulRows {
                rows: Rows::new(width),
                state,
                ids: Vec::new(),
                prepared: Ok(()),
            }),
        }
    }

    /// For a model with a feature spec, the message's features from its entities' state (the
    /// state moves on); [`Scorer::score`] then scores them. An error is the state's own (Kafka
    /// failing under a rebuild): the consumer stops, and the message is not done.
    pub fn prepare(&mut self, msg: &BorrowedMessage<'_>) -> Result<(), StateError> {
        let Some(st) = &mut self.stateful else { return Ok(()) };
        let read_to = msg
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == LABELS_HEADER))
            .and_then(|h| h.value.and_then(parse_labels_header));
        st.rows.clear();
        let row = st.rows.push_missing();
        let payload = msg.payload().unwrap_or(&[]);
        st.prepared = match st.state.features(msg.partition(), msg.offset(), payload, read_to.as_deref(), row) {
            Ok(id) => {
                st.ids.clear();
                st.ids.push(id);
                Ok(())
            }
            Err(StateError::Wire(e)) => Err(e),
            Err(other) => return Err(other),
        };
        Ok(())
    }

    /// Scores one message; the output borrows the scorer's buffers until the next call.
    pub fn score<'a>(&'a mut self, msg: &'a BorrowedMessage<'_>) -> (Input, Output<'a>) {
        let payload = msg.payload().unwrap_or(&[]);
        let timestamp_ms = msg.timestamp().to_millis();
        let mut input = Input {
            partition: msg.partition(),
            offset: msg.offset(),
            timestamp_ms,
            received: Instant::now(),
            wait_us: timestamp_ms.map(micros_since),
            rows: 0,
            decisions: [0; 3],
            dead_letter: None,
        };
        let source = Source { topic: msg.topic(), partition: msg.partition(), offset: msg.offset() };
        let parsed: Result<Parsed<'_>, WireError> = match &self.stateful {
            Some(st) => match &st.prepared {
                Ok(()) => Ok(Parsed { rows: &st.rows, ids: Some(&st.ids) }),
                Err(e) => Err(e.clone()),
            },
            None => {
                self.parser.follow(self.dir.model.schema_arc());
                self.parser.parse_json(payload)
            }
        };
        match parsed {
            Ok(parsed) => {
                let j = &mut self.judgments;
                j.judge(&self.dir.model, &self.dir.policy, self.reasons_for, parsed.rows);
                // Decisions are counted once the output is durable (the tally), so an exactly-once
                // redo does not count twice; the score histogram shows what was scored.
                for (d, p) in j.decisions.iter().zip(&j.probabilities) {
                    input.decisions[*d as usize] += 1;
                    self.metrics.scores.observe(*p);
                }
                input.rows = parsed.rows.len() as u64;
                if self.log_messages {
                    tracing::info!("Input data: {}", String::from_utf8_lossy(payload));
                    tracing::info!("Fraud detection result: {:?}", j.predictions);
                }
                ScoreRecord {
                    predictions: &j.predictions,
                    probabilities: &j.probabilities,
                    decisions: &j.decisions,
                    reasons: j.row_reasons(&self.dir.model),
                    ids: parsed.ids,
                    model_version: self.dir.model.version(),
                    source: Some(source),
                }
                .write_into(&mut self.out);
                (input, Output { topic: &self.output_topic, key: msg.key(), payload: &self.out, headers: None })
            }
            Err(e) => {
                tracing::warn!(
                    code = e.code.as_str(),
                    partition = source.partition,
                    offset = source.offset,
                    error = %e.message,
                    "bad input sent to the dead-letter topic {}", self.dlq_topic
                );
                input.dead_letter = Some(e.code);
                let headers = OwnedHeaders::new_with_capacity(5)
                    .insert(Header { key: "fraud.error.code", value: Some(e.code.as_str()) })
                    .insert(Header { key: "fraud.error.message", value: Some(&e.message) })
                    .insert(Header { key: "fraud.source.topic", value: Some(source.topic) })
                    .insert(Header { key: "fraud.source.partition", value: Some(&source.partition.to_string()) })
                    .insert(Header { key: "fraud.source.offset", value: Some(&source.offset.to_string()) });
                (input, Output { topic: &self.dlq_topic, key: msg.key(), payload, headers: Some(headers) })
            }
        }
    }
}
