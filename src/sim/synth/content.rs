//! The text of synthetic support-bot traffic: the prompt (OpenAI messages JSON), the healthy
//! JSON answer and each defect's way of breaking it. This format is a contract with the starter
//! eval suite `evals/support.yaml`; change both together.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The system prompt every synthetic request carries.
pub const SYSTEM_PROMPT: &str =
    "You are Acme's support assistant. Reply with JSON: {\"order_id\", \"status\", \"answer\"}.";

/// The order statuses a healthy answer may report.
pub const STATUSES: [&str; 5] = [
    "processing",
    "shipped",
    "delivered",
    "refunded",
    "cancelled",
];

/// Minimum length of an `over_long` answer, in characters.
pub const OVER_LONG_MIN_CHARS: usize = 1_501;

/// One way a response can be wrong. Each arm has its own probability of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Defect {
    /// Prose, or JSON cut off mid-object.
    InvalidJson,
    /// Valid JSON without `status` or without `answer`.
    MissingField,
    /// A plain-text refusal instead of JSON.
    Refusal,
    /// An `answer` longer than 1,500 characters.
    OverLong,
    /// An `order_id` other than the one asked about.
    WrongOrderId,
}

impl Defect {
    /// Every defect, in the order the generator draws them.
    pub const ALL: [Defect; 5] = [
        Defect::InvalidJson,
        Defect::MissingField,
        Defect::Refusal,
        Defect::OverLong,
        Defect::WrongOrderId,
    ];

    /// The snake_case name written to `metadata.synth.defects`.
    pub fn as_str(self) -> &'static str {
        match self {
            Defect::InvalidJson => "invalid_json",
            Defect::MissingField => "missing_field",
            Defect::Refusal => "refusal",
            Defect::OverLong => "over_long",
            Defect::WrongOrderId => "wrong_order_id",
        }
    }
}

const QUESTIONS: [&str; 12] = [
    "Where is my order {order}?",
    "Can you tell me the status of order {order}?",
    "I ordered something last week, order number {order}. Has it shipped yet?",
    "Hi, order {order} still hasn't arrived. What's going on?",
    "Was my refund for {order} processed?",
    "I want to cancel order {order}, is it too late?",
    "My tracking for {order} hasn't updated in days. Any news?",
    "Could you check on {order} for me please?",
    "Has order {order} been delivered? I can't find the package.",
    "What's happening with my order {order}?",
    "hello?? {order} where is it",
    "I need an update on {order} before the weekend, thanks.",
];

const DAYS: [&str; 5] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
const CARRIERS: [&str; 3] = ["UPS", "DHL", "FedEx"];

const REFUSALS: [&str; 4] = [
    "I'm sorry, but I can't help with that request.",
    "I'm sorry, I can't assist with that.",
    "Unfortunately I am not able to help with questions about orders.",
    "I can't share information about this order. Please contact support.",
];

const FILLER: [&str; 6] = [
    "We know how important it is to receive your items on time, and we truly appreciate your patience while our logistics partners work through the current volume of parcels.",
    "Please note that tracking information can take up to forty-eight hours to refresh after a parcel changes hands between depots, so a quiet tracking page is not unusual.",
    "If anything about your order looks unexpected, you can always reply to this message and a member of our team will be happy to take a closer look for you.",
    "Our warehouse teams process orders in the sequence they are received, and we run additional quality checks on every item before it leaves the building.",
    "As a reminder, our standard returns policy allows you to send back most items within thirty days of delivery in their original condition for a full refund.",
    "Thank you again for choosing Acme; we are committed to making every part of your shopping experience as smooth and pleasant as possible.",
];

/// A drawn order: the id the user asks about and its true status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// E.g. `A-12345`.
    pub id: String,
    /// One of [`STATUSES`].
    pub status: &'static str,
}

/// Draws an order id and a status (shipped and delivered are the common cases).
pub fn draw_order<R: Rng>(rng: &mut R) -> Order {
    let number: u32 = rng.random_range(10_000..100_000);
    let roll: f64 = rng.random();
    let status = match roll {
        r if r < 0.20 => "processing",
        r if r < 0.55 => "shipped",
        r if r < 0.85 => "delivered",
        r if r < 0.93 => "refunded",
        _ => "cancelled",
    };
    Order {
        id: format!("A-{number}"),
        status,
    }
}

/// The request `input`: OpenAI messages JSON with the system prompt and a question.
pub fn input_messages<R: Rng>(rng: &mut R, order: &Order) -> String {
    let template = QUESTIONS[rng.random_range(0..QUESTIONS.len())];
    let question = template.replace("{order}", &order.id);
    // Written by hand so the keys keep OpenAI's order (`role`, then `content`).
    format!(
        "[{{\"role\":\"system\",\"content\":{}}},{{\"role\":\"user\",\"content\":{}}}]",
        serde_json::Value::from(SYSTEM_PROMPT),
        serde_json::Value::from(question)
    )
}

/// One or two polite sentences about the order (< 400 characters).
pub fn polite_answer<R: Rng>(rng: &mut R, order: &Order) -> String {
    let day = DAYS[rng.random_range(0..DAYS.len())];
    let carrier = CARRIERS[rng.random_range(0..CARRIERS.len())];
    let id = &order.id;
    let variants: [String; 2] = match order.status {
        "processing" => [
            format!("Your order {id} is being prepared in our warehouse. It should ship by {day}."),
            format!(
                "Thanks for your patience! Order {id} is still processing and we expect it to leave us by {day}."
            ),
        ],
        "shipped" => [
            format!("Good news: order {id} has shipped with {carrier}. It should arrive by {day}."),
            format!(
                "Your order {id} is on its way with {carrier}. You can expect it around {day}."
            ),
        ],
        "delivered" => [
            format!(
                "Our records show order {id} was delivered on {day}. If you can't find it, please check with your neighbours or let us know."
            ),
            format!("Order {id} was delivered by {carrier} on {day}. I hope you enjoy it!"),
        ],
        "refunded" => [
            format!(
                "The refund for order {id} was issued on {day}. It can take 3-5 business days to appear on your statement."
            ),
            format!(
                "Order {id} has been refunded in full. Please allow a few business days for your bank to process it."
            ),
        ],
        _ => [
            format!(
                "Order {id} has been cancelled and you have not been charged. Let me know if you'd like to place it again."
            ),
            format!("Your order {id} was cancelled on {day}. No payment was taken."),
        ],
    };
    let pick = rng.random_range(0..variants.len());
    variants[pick].clone()
}

/// Renders the response JSON with fields in contract order; `None` leaves a field out.
fn render_json(order_id: Option<&str>, status: Option<&str>, answer: Option<&str>) -> String {
    let mut fields: Vec<String> = Vec::with_capacity(3);
    for (key, value_opt) in [
        ("order_id", order_id),
        ("status", status),
        ("answer", answer),
    ] {
        if let Some(value) = value_opt {
            fields.push(format!("\"{key}\":{}", serde_json::Value::from(value)));
        }
    }
    format!("{{{}}}", fields.join(","))
}

/// The healthy response: `{"order_id", "status", "answer"}`.
pub fn healthy_output<R: Rng>(rng: &mut R, order: &Order) -> String {
    let answer = polite_answer(rng, order);
    render_json(Some(&order.id), Some(order.status), Some(&answer))
}

/// The response with `defect` applied.
pub fn defective_output<R: Rng>(rng: &mut R, order: &Order, defect: Defect) -> String {
    match defect {
        Defect::InvalidJson => invalid_json(rng, order),
        Defect::MissingField => {
            let answer = polite_answer(rng, order);
            if rng.random_bool(0.5) {
                render_json(Some(&order.id), None, Some(&answer))
            } else {
                render_json(Some(&order.id), Some(order.status), None)
            }
        }
        Defect::Refusal => REFUSALS[rng.random_range(0..REFUSALS.len())].to_string(),
        Defect::OverLong => {
            let answer = over_long_answer(rng, order);
            render_json(Some(&order.id), Some(order.status), Some(&answer))
        }
        Defect::WrongOrderId => {
            // The model answered about another order: the asked-for id appears nowhere.
            let wrong = Order {
                id: wrong_order_id(rng, &order.id),
                status: order.status,
            };
            let answer = polite_answer(rng, &wrong);
            render_json(Some(&wrong.id), Some(wrong.status), Some(&answer))
        }
    }
}

/// Prose instead of JSON, or the healthy JSON cut off before its closing brace.
fn invalid_json<R: Rng>(rng: &mut R, order: &Order) -> String {
    let full = healthy_output(rng, order);
    if rng.random_bool(0.5) {
        return polite_answer(rng, order);
    }
    // Everything generated is ASCII, so any byte index is a char boundary; cutting anywhere
    // before the final `}` leaves an unterminated object.
    let cut = rng.random_range(8..full.len() - 1);
    full[..cut].to_string()
}

/// A polite answer padded with filler until it is over the length limit.
fn over_long_answer<R: Rng>(rng: &mut R, order: &Order) -> String {
    let mut answer = polite_answer(rng, order);
    let target = OVER_LONG_MIN_CHARS + rng.random_range(0..800);
    while answer.len() < target {
        answer.push(' ');
        answer.push_str(FILLER[rng.random_range(0..FILLER.len())]);
    }
    answer
}

/// An order id that is not `asked`: the same shape with another number.
fn wrong_order_id<R: Rng>(rng: &mut R, asked: &str) -> String {
    loop {
        let number: u32 = rng.random_range(10_000..100_000);
        let candidate = format!("A-{number}");
        if candidate != asked {
            return candidate;
        }
    }
}

/// The error text of a failed request.
pub fn error_text<R: Rng>(rng: &mut R) -> &'static str {
    const ERRORS: [&str; 4] = [
        "upstream timeout after 30000 ms",
        "rate limited by provider (429)",
        "model overloaded (503)",
        "context length exceeded",
    ];
    ERRORS[rng.random_range(0..ERRORS.len())]
}

/// A rough token count for billing fields: about four characters per token.
pub fn approx_tokens(text: &str) -> i64 {
    i64::try_from(text.len().div_ceil(4)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::Value;

    fn order() -> Order {
        Order {
            id: "A-12345".to_string(),
            status: "shipped",
        }
    }

    #[test]
    fn healthy_output_is_the_contract_json_with_a_short_answer() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..200 {
            let drawn = draw_order(&mut rng);
            let text = healthy_output(&mut rng, &drawn);
            let value: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(value["order_id"], drawn.id.as_str());
            assert!(STATUSES.contains(&value["status"].as_str().unwrap()));
            let answer = value["answer"].as_str().unwrap();
            assert!(!answer.is_empty() && answer.len() < 400, "{answer}");
            assert!(text.starts_with("{\"order_id\":"));
        }
    }

    #[test]
    fn input_is_openai_messages_asking_about_the_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let text = input_messages(&mut rng, &order());
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value[0]["role"], "system");
        assert_eq!(value[0]["content"], SYSTEM_PROMPT);
        assert_eq!(value[1]["role"], "user");
        assert!(value[1]["content"].as_str().unwrap().contains("A-12345"));
        assert!(text.starts_with(r#"[{"role":"system","content":"You are Acme's"#));
    }

    #[test]
    fn each_defect_breaks_the_response_the_way_its_name_says() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let invalid = defective_output(&mut rng, &order(), Defect::InvalidJson);
            assert!(
                serde_json::from_str::<Value>(&invalid).is_err(),
                "{invalid}"
            );

            let missing = defective_output(&mut rng, &order(), Defect::MissingField);
            let value: Value = serde_json::from_str(&missing).unwrap();
            assert!(value.get("status").is_none() != value.get("answer").is_none());

            let refusal = defective_output(&mut rng, &order(), Defect::Refusal);
            assert!(serde_json::from_str::<Value>(&refusal).is_err());

            let long = defective_output(&mut rng, &order(), Defect::OverLong);
            let value: Value = serde_json::from_str(&long).unwrap();
            assert!(value["answer"].as_str().unwrap().len() > 1_500);

            let wrong = defective_output(&mut rng, &order(), Defect::WrongOrderId);
            let value: Value = serde_json::from_str(&wrong).unwrap();
            assert_ne!(value["order_id"], "A-12345");
            assert!(!wrong.contains("A-12345"), "{wrong}");
            assert!(value["order_id"].as_str().unwrap().starts_with("A-"));
        }
    }
}
