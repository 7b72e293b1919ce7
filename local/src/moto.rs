//! A moto server on loopback: the local stand-in for DynamoDB, SQS, SSM and CloudWatch.
//!
//! moto runs under a small Python wrapper that exits as soon as its parent (this process) is
//! gone, so a moto started by a test or by `make dev` never outlives it, even when the parent is
//! killed without a chance to clean up.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

const WRAPPER: &str = r#"
import os, sys, threading, time
parent = os.getppid()
def watch():
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)
threading.Thread(target=watch, daemon=True).start()
# moto's CloudWatch answers Sum, Average, Minimum, Maximum and SampleCount but no percentile;
# CloudWatch answers pNN from the values a metric received. Nearest rank over those values.
import math
from moto.cloudwatch import models as cw
statistic = cw.Statistics.get_statistics_for_type
def with_percentiles(self, stat):
    if stat.startswith("p"):
        try:
            q = float(stat[1:])
        except ValueError:
            return statistic(self, stat)
        values = sorted(self.metric_single_values_list)
        if not values or not 0 <= q <= 100:
            return None
        return values[max(1, math.ceil(q / 100 * len(values))) - 1]
    return statistic(self, stat)
cw.Statistics.get_statistics_for_type = with_percentiles
# DynamoDB applies each request to an item atomically: a conditional write checks and writes
# in one step, and a read sees an item before or after a write, never half of one. moto's
# threaded server does neither: it checks a condition and writes without a lock (two jobs could
# both take one contact's lease), and UpdateItem puts a new item's key in the table before it
# sets the other attributes, so a concurrent Query can read an item with only some of them. One
# lock around each DynamoDB request, from parsing to the serialized answer, makes each atomic.
from moto.dynamodb.responses import DynamoHandler
dynamodb_requests = threading.RLock()
answer_dynamodb = DynamoHandler.call_action
def call_action_atomically(self):
    with dynamodb_requests:
        return answer_dynamodb(self)
DynamoHandler.call_action = call_action_atomically
# SQS refuses a message whose body or String attribute value has a character outside
# #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF: SendMessage answers
# InvalidMessageContents, SendMessageBatch fails that entry alone. moto takes anything.
from moto.sqs.models import SQSBackend
from moto.sqs.exceptions import SQSException
import re
REFUSED = "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
outside_sqs_set = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
def acceptable(body, attributes):
    values = [a.get("StringValue") for a in (attributes or {}).values() if isinstance(a, dict)]
    return not any(outside_sqs_set.search(v or "") for v in [body] + values)
send_one = SQSBackend.send_message
def send_message(self, queue_name, message_body, message_attributes=None, *args, **kwargs):
    if not acceptable(message_body, message_attributes):
        raise SQSException("InvalidMessageContents", REFUSED)
    return send_one(self, queue_name, message_body, message_attributes, *args, **kwargs)
SQSBackend.send_message = send_message
send_batch = SQSBackend.send_message_batch
def send_message_batch(self, queue_name, entries):
    taken = {k: e for k, e in entries.items()
             if acceptable(e.get("MessageBody"), e.get("MessageAttributes"))}
    refused = [{"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents",
                "Message": REFUSED} for k, e in entries.items() if k not in taken]
    messages, failed = send_batch(self, queue_name, taken) if taken else ([], [])
    return messages, failed + refused
SQSBackend.send_message_batch = send_message_batch
# Speed, not behaviour. moto checks each message it receives against the queue's retention
# period by building every queue attribute, three of which count all the queue's messages: a
# receive of 10 from a queue of 2,000 walked it ~90 times, and in a bulk tagging half of moto's
# time went there while leadsync's calls timed out behind it. The same check, reading the one
# attribute it needs.
from moto.core.utils import unix_time
def retained(self, queue_name, message):
    period = self.get_queue(queue_name).message_retention_period
    return period + message.sent_timestamp / 1000 > unix_time()
assert hasattr(SQSBackend, "is_message_valid_based_on_retention_period"), "moto renamed the check"
SQSBackend.is_message_valid_based_on_retention_period = retained
# And each message sent reads the queue's ContentBasedDeduplication through the same attributes
# (counting the queue three times). That attribute exists only on FIFO queues, so while a
# standard queue's message is sent, its attributes answer that one read without being built; a
# moto that read any other attribute there gets an error (the send answers 500), not a wrong
# answer.
from moto.sqs.models import Queue
sending = threading.local()
class NoDeduplication(dict):
    def get(self, key, default=None):
        if key != "ContentBasedDeduplication":
            raise AssertionError(f"moto now reads {key} while sending")
        return default
    def refuse(self, *args):
        raise AssertionError("moto now reads more queue attributes while sending")
    __getitem__ = __contains__ = __iter__ = keys = items = values = refuse
every_attribute = Queue.attributes.fget
def queue_attributes(self):
    if getattr(sending, "active", False) and not self.fifo_queue:
        return NoDeduplication()
    return every_attribute(self)
Queue.attributes = property(queue_attributes)
def while_sending(send):
    def sent(*args, **kwargs):
        before = getattr(sending, "active", False)
        sending.active = True
        try:
            return send(*args, **kwargs)
        finally:
            sending.active = before
    return sent
SQSBackend.send_message = while_sending(SQSBackend.send_message)
SQSBackend.send_message_batch = while_sending(SQSBackend.send_message_batch)
# Each request's log line, formatted and written to a stderr nobody reads: a tenth of moto's time.
import logging
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"#;

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    /// Starts moto on a free loopback port and waits until it answers.
    pub fn start() -> Result<Self> {
        let python = python_with_moto()?;
        let port = free_port()?;
        let child = Command::new(&python)
            .args(["-c", WRAPPER, &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting moto with {}", python.display()))?;
        let mut moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready(Duration::from_secs(30))?;
        Ok(moto)
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        let addr = self.url.trim_start_matches("http://").to_string();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "moto exited during start-up ({status}); is moto[server] installed? run `make venv`"
                );
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("moto did not start within {limit:?}")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has moto: `LEADSYNC_PYTHON`, else the repository's `.venv`, else `python3`.
fn python_with_moto() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("LEADSYNC_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let mut dir = std::env::current_dir()?;
    loop {
        let candidate = dir.join(".venv/bin/python");
        if candidate.exists() {
            return Ok(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    let manifest_venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if manifest_venv.exists() {
        return Ok(manifest_venv);
    }
    Ok(PathBuf::from("python3"))
}

/// A port that was free a moment ago (the listener is closed before the port is handed out).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
