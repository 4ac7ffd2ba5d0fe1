//! One input message in, one output out: its score record for the output topic, or, when it
//! cannot be scored, its original bytes for the dead-letter topic with the error in headers.
//! Buffers are reused from one message to the next.

use std::time::Instant;

use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};

use crate::decision::{Judgments, ModelDir, ReasonsFor};
use crate::stream::commit::{Input, Output, micros_since};
use crate::telemetry::ConsumerMetrics;
use crate::wire::{RowParser, ScoreRecord, Source};

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
    ) -> Self {
        let parser = RowParser::new(std::sync::Arc::clone(dir.model.schema_arc()), id, max_message_bytes);
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
        }
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
        self.parser.follow(self.dir.model.schema_arc());
        match self.parser.parse_json(payload) {
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
