//! OTLP/HTTP trace payloads: the protobuf messages of `opentelemetry/proto/collector/trace/v1`
//! (the subset a traces receiver reads, field numbers as in opentelemetry-proto v1.5), decoded
//! with prost and turned into the OTLP/JSON encoding, so one mapping (`formats::otel`) serves
//! both encodings. Also the `ExportTraceServiceResponse` a receiver answers with.
//!
//! OTLP/JSON rules followed (specification "OTLP/HTTP JSON encoding"): lowerCamelCase keys,
//! trace and span ids as lowercase hex, 64-bit integers as decimal strings, enums as integers.

use serde_json::{Map, Value, json};

/// `ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceRequest {
    /// The spans, grouped by resource.
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

/// `ResourceSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    /// The resource (service) the spans came from.
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    /// The spans, grouped by instrumentation scope.
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

/// `Resource`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    /// Resource attributes, e.g. `service.name`.
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

/// `ScopeSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    /// The instrumentation scope.
    #[prost(message, optional, tag = "1")]
    pub scope: Option<InstrumentationScope>,
    /// The spans.
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

/// `InstrumentationScope`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct InstrumentationScope {
    /// The library name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its version.
    #[prost(string, tag = "2")]
    pub version: String,
}

/// `Span` (links, trace state and dropped counts are not read).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// 8 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// 8 bytes, empty for a root span.
    #[prost(bytes = "vec", tag = "4")]
    pub parent_span_id: Vec<u8>,
    /// The span name, e.g. `chat gpt-4o`.
    #[prost(string, tag = "5")]
    pub name: String,
    /// `SpanKind` as its number.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    /// Start, unix nanoseconds.
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    /// End, unix nanoseconds.
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    /// Span attributes (`gen_ai.*`).
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    /// Span events (older GenAI conventions put prompts and completions here).
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
    /// The status.
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

/// `Span.Event`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    /// When, unix nanoseconds.
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// The event name, e.g. `gen_ai.content.prompt`.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Its attributes.
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

/// `Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// The error message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

/// `KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// The attribute name.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

/// `AnyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    /// One of the value kinds.
    #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
    pub value: Option<any_value::Value>,
}

/// The kinds of [`AnyValue`].
pub mod any_value {
    /// `AnyValue.value`.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// A string.
        #[prost(string, tag = "1")]
        StringValue(String),
        /// A boolean.
        #[prost(bool, tag = "2")]
        BoolValue(bool),
        /// A 64-bit integer.
        #[prost(int64, tag = "3")]
        IntValue(i64),
        /// A double.
        #[prost(double, tag = "4")]
        DoubleValue(f64),
        /// An array.
        #[prost(message, tag = "5")]
        ArrayValue(super::ArrayValue),
        /// A nested key/value list.
        #[prost(message, tag = "6")]
        KvlistValue(super::KeyValueList),
        /// Raw bytes (not read by the GenAI mapping).
        #[prost(bytes = "vec", tag = "7")]
        BytesValue(Vec<u8>),
    }
}

/// `ArrayValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ArrayValue {
    /// The elements.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

/// `KeyValueList`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValueList {
    /// The entries.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// `ExportTraceServiceResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTraceServiceResponse {
    /// Set when some spans were rejected.
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<ExportTracePartialSuccess>,
}

/// `ExportTracePartialSuccess`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportTracePartialSuccess {
    /// How many spans were rejected.
    #[prost(int64, tag = "1")]
    pub rejected_spans: i64,
    /// Why (the first reasons).
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// Decodes a protobuf `ExportTraceServiceRequest`.
pub fn decode_request(bytes: &[u8]) -> Result<ExportTraceServiceRequest, prost::DecodeError> {
    prost::Message::decode(bytes)
}

/// The OTLP/JSON form of a decoded request.
pub fn request_to_json(request: &ExportTraceServiceRequest) -> Value {
    let resource_spans: Vec<Value> = request
        .resource_spans
        .iter()
        .map(|group| {
            let resource = group.resource.as_ref().map_or_else(
                || json!({ "attributes": [] }),
                |resource| json!({ "attributes": attributes_json(&resource.attributes) }),
            );
            let scope_spans: Vec<Value> = group
                .scope_spans
                .iter()
                .map(|scope_group| {
                    let scope = scope_group.scope.as_ref().map_or(
                        Value::Null,
                        |scope| json!({ "name": scope.name, "version": scope.version }),
                    );
                    let spans: Vec<Value> = scope_group.spans.iter().map(span_json).collect();
                    json!({ "scope": scope, "spans": spans })
                })
                .collect();
            json!({ "resource": resource, "scopeSpans": scope_spans })
        })
        .collect();
    json!({ "resourceSpans": resource_spans })
}

/// The protobuf bytes of a response reporting `rejected` spans (none: an empty message).
pub fn encode_response(rejected: u64, message: &str) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
            rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
            error_message: message.to_string(),
        }),
    };
    prost::Message::encode_to_vec(&response)
}

/// The OTLP/JSON form of the same response.
pub fn response_json(rejected: u64, message: &str) -> Value {
    if rejected == 0 {
        return json!({});
    }
    json!({
        "partialSuccess": {
            "rejectedSpans": rejected.to_string(),
            "errorMessage": message,
        }
    })
}

fn span_json(span: &Span) -> Value {
    let mut object = Map::new();
    object.insert("traceId".into(), Value::String(hex::encode(&span.trace_id)));
    object.insert("spanId".into(), Value::String(hex::encode(&span.span_id)));
    if !span.parent_span_id.is_empty() {
        object.insert(
            "parentSpanId".into(),
            Value::String(hex::encode(&span.parent_span_id)),
        );
    }
    object.insert("name".into(), Value::String(span.name.clone()));
    object.insert("kind".into(), Value::from(span.kind));
    object.insert(
        "startTimeUnixNano".into(),
        Value::String(span.start_time_unix_nano.to_string()),
    );
    object.insert(
        "endTimeUnixNano".into(),
        Value::String(span.end_time_unix_nano.to_string()),
    );
    object.insert("attributes".into(), attributes_json(&span.attributes));
    let events: Vec<Value> = span
        .events
        .iter()
        .map(|event| {
            json!({
                "timeUnixNano": event.time_unix_nano.to_string(),
                "name": event.name,
                "attributes": attributes_json(&event.attributes),
            })
        })
        .collect();
    object.insert("events".into(), Value::Array(events));
    if let Some(status) = &span.status {
        let mut status_json = Map::new();
        if !status.message.is_empty() {
            status_json.insert("message".into(), Value::String(status.message.clone()));
        }
        status_json.insert("code".into(), Value::from(status.code));
        object.insert("status".into(), Value::Object(status_json));
    }
    Value::Object(object)
}

fn attributes_json(attributes: &[KeyValue]) -> Value {
    Value::Array(
        attributes
            .iter()
            .filter_map(|attribute| {
                let value = attribute.value.as_ref().and_then(any_value_json)?;
                Some(json!({ "key": attribute.key, "value": value }))
            })
            .collect(),
    )
}

/// `None` for an empty value and for bytes, which no GenAI attribute uses.
fn any_value_json(value: &AnyValue) -> Option<Value> {
    use any_value::Value as Kind;
    let json = match value.value.as_ref()? {
        Kind::StringValue(text) => json!({ "stringValue": text }),
        Kind::BoolValue(flag) => json!({ "boolValue": flag }),
        Kind::IntValue(number) => json!({ "intValue": number.to_string() }),
        Kind::DoubleValue(number) => json!({ "doubleValue": number }),
        Kind::ArrayValue(array) => {
            let values: Vec<Value> = array.values.iter().filter_map(any_value_json).collect();
            json!({ "arrayValue": { "values": values } })
        }
        Kind::KvlistValue(list) => {
            json!({ "kvlistValue": { "values": attributes_json(&list.values) } })
        }
        Kind::BytesValue(_) => return None,
    };
    Some(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_attr(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.to_string())),
            }),
        }
    }

    #[test]
    fn a_protobuf_request_round_trips_into_otlp_json() {
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_attr("service.name", "gateway")],
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "litellm".into(),
                        version: "1".into(),
                    }),
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "chat bot".into(),
                        kind: 3,
                        start_time_unix_nano: 1_764_136_800_000_000_000,
                        end_time_unix_nano: 1_764_136_801_000_000_000,
                        attributes: vec![
                            string_attr("gen_ai.request.model", "bot@v42"),
                            KeyValue {
                                key: "gen_ai.usage.input_tokens".into(),
                                value: Some(AnyValue {
                                    value: Some(any_value::Value::IntValue(21)),
                                }),
                            },
                        ],
                        status: Some(Status {
                            message: "boom".into(),
                            code: 2,
                        }),
                        ..Span::default()
                    }],
                }],
            }],
        };
        let bytes = prost::Message::encode_to_vec(&request);
        let decoded = decode_request(&bytes).unwrap();
        assert_eq!(decoded, request);
        let json = request_to_json(&decoded);
        let span = &json["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "ab".repeat(16));
        assert_eq!(span["startTimeUnixNano"], "1764136800000000000");
        assert_eq!(span["attributes"][1]["value"]["intValue"], "21");
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(
            json["resourceSpans"][0]["resource"]["attributes"][0]["key"],
            "service.name"
        );
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(decode_request(&[0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn the_response_reports_rejected_spans() {
        let bytes = encode_response(2, "missing tenant");
        let decoded: ExportTraceServiceResponse = prost::Message::decode(&bytes[..]).unwrap();
        assert_eq!(decoded.partial_success.unwrap().rejected_spans, 2);
        assert!(encode_response(0, "").is_empty());
        assert_eq!(
            response_json(1, "x")["partialSuccess"]["rejectedSpans"],
            "1"
        );
    }
}
