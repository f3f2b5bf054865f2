//! A function entry's payload grid: the listed fields' values, typed from the workload's own
//! defaults, and the payloads at each grid point.

use serde_json::{Map, Value};
use workloads::dense::DenseParams;
use workloads::ml::MlParams;
use workloads::pi::PiParams;
use workloads::video::VideoParams;
use workloads::{Function, Payload};

use crate::locate::FieldPath;
use crate::spec::{FunctionSpec, Values, Violation};

/// Most values one field may expand to.
pub const MAX_VALUES_PER_FIELD: usize = 10_000;
/// Most grid points one function entry may have.
pub const MAX_GRID_POINTS: usize = 100_000;
/// The payload field the schedule owns.
const SEED_FIELD: &str = "seed";
/// Range points of float fields are rounded to this many decimals, so that `0.1 + 0.2` reads
/// as `0.3` in payloads and datasets.
const FLOAT_DECIMALS: i32 = 9;

fn default_payload(function: Function) -> Payload {
    match function {
        Function::Ml => Payload::Ml(MlParams::default()),
        Function::Pi => Payload::Pi(PiParams::default()),
        Function::Dense => Payload::Dense(DenseParams::default()),
        Function::Video => Payload::Video(VideoParams::default()),
    }
}

/// The default payload as a JSON object, `function` tag included. Its field values also tell
/// which fields are integers: serde writes `4.0` for a float and `4` for an integer.
fn default_object(function: Function) -> Map<String, Value> {
    match serde_json::to_value(default_payload(function)) {
        Ok(Value::Object(object)) => object,
        // A tagged enum of plain structs always serialises to an object.
        _ => Map::new(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum FieldKind {
    Integer,
    Float,
}

fn field_kind(defaults: &Map<String, Value>, field: &str) -> FieldKind {
    match defaults.get(field) {
        Some(Value::Number(number)) if number.is_f64() => FieldKind::Float,
        _ => FieldKind::Integer,
    }
}

/// A value the spec gives for a field that cannot be used, with the list element at fault.
struct ValueError {
    element: Option<usize>,
    message: String,
}

impl ValueError {
    fn whole(message: impl Into<String>) -> Self {
        Self {
            element: None,
            message: message.into(),
        }
    }
}

/// The numbers a field takes, in order. Range points are rounded for integer fields (and
/// duplicates dropped); listed values must already be whole for integer fields.
fn expand(values: &Values, kind: FieldKind) -> Result<Vec<f64>, ValueError> {
    let finite = |name: &str, x: f64| {
        if x.is_finite() {
            Ok(())
        } else {
            Err(ValueError::whole(format!(
                "`{name}` must be a finite number"
            )))
        }
    };
    let points = match *values {
        Values::List(ref list) => {
            if list.is_empty() {
                return Err(ValueError::whole("the list is empty"));
            }
            if list.len() > MAX_VALUES_PER_FIELD {
                return Err(ValueError::whole(format!(
                    "{} values, more than the {MAX_VALUES_PER_FIELD} allowed",
                    list.len()
                )));
            }
            for (element, &x) in list.iter().enumerate() {
                let error = if !x.is_finite() {
                    Some(format!("value {x} is not a finite number"))
                } else if kind == FieldKind::Integer && x.fract() != 0.0 {
                    Some(format!("value {x} is not a whole number"))
                } else {
                    None
                };
                if let Some(message) = error {
                    return Err(ValueError {
                        element: Some(element),
                        message,
                    });
                }
            }
            return Ok(list.clone());
        }
        Values::Linear { from, to, step } => {
            finite("from", from)?;
            finite("to", to)?;
            finite("step", step)?;
            if step <= 0.0 {
                return Err(ValueError::whole("`step` must be positive"));
            }
            if to < from {
                return Err(ValueError::whole("`to` must not be below `from`"));
            }
            // The tolerance keeps `to` when float steps land a hair short of it.
            let intervals = ((to - from) / step * (1.0 + 1e-12)).floor();
            if intervals >= MAX_VALUES_PER_FIELD as f64 {
                return Err(ValueError::whole(format!(
                    "the range has more than the {MAX_VALUES_PER_FIELD} values allowed"
                )));
            }
            (0..=intervals as usize)
                .map(|i| from + step * i as f64)
                .collect::<Vec<_>>()
        }
        Values::Log {
            from,
            to,
            log_steps,
        } => {
            finite("from", from)?;
            finite("to", to)?;
            if from <= 0.0 {
                return Err(ValueError::whole(
                    "`from` of a logarithmic range must be positive",
                ));
            }
            if to < from {
                return Err(ValueError::whole("`to` must not be below `from`"));
            }
            let steps = log_steps as usize;
            if steps == 0 || steps > MAX_VALUES_PER_FIELD {
                return Err(ValueError::whole(format!(
                    "`log_steps` must be in 1..={MAX_VALUES_PER_FIELD}"
                )));
            }
            if steps == 1 && to != from {
                return Err(ValueError::whole(
                    "`log_steps = 1` gives one point: set `from` equal to `to`",
                ));
            }
            let ratio = to / from;
            (0..steps)
                .map(|i| match i {
                    0 => from,
                    _ if i == steps - 1 => to,
                    _ => from * ratio.powf(i as f64 / (steps - 1) as f64),
                })
                .collect()
        }
    };
    let mut rounded: Vec<f64> = points
        .into_iter()
        .map(|x| match kind {
            FieldKind::Integer => x.round(),
            FieldKind::Float => {
                let scale = 10f64.powi(FLOAT_DECIMALS);
                (x * scale).round() / scale
            }
        })
        .collect();
    rounded.dedup();
    Ok(rounded)
}

/// A grid value as the JSON number serde expects for the field.
fn to_json(x: f64, kind: FieldKind) -> Value {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    match kind {
        FieldKind::Integer if (0.0..TWO_POW_64).contains(&x) => Value::from(x as u64),
        FieldKind::Integer if (-TWO_POW_63..0.0).contains(&x) => Value::from(x as i64),
        // Out of every integer type: hand serde a float so that it reports the field's range.
        _ => serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number),
    }
}

/// Why a payload was rejected, as users read it: `value 7 not in 0, 1 or 2`.
fn rejection(function: Function, field: &str, payload: &Map<String, Value>) -> Option<String> {
    let got = payload.get(field).map(Value::to_string).unwrap_or_default();
    match serde_json::from_value::<Payload>(Value::Object(payload.clone())) {
        Err(_) => Some(format!(
            "value {got} not in {}",
            function.allowed(field).unwrap_or_default()
        )),
        Ok(payload) => payload.validate().err().map(|invalid| {
            if invalid.field == field {
                format!("value {} not in {}", invalid.got, invalid.allowed)
            } else {
                invalid.to_string()
            }
        }),
    }
}

/// One function entry's grid: an axis per listed field, in the workload's field order.
#[derive(Debug, Clone)]
pub(crate) struct Grid {
    function: Function,
    defaults: Map<String, Value>,
    axes: Vec<(&'static str, Vec<Value>)>,
}

impl Grid {
    /// Types and checks every listed value on its own against the workload; `path` names the
    /// entry's `payload` table in errors.
    pub(crate) fn new(spec: &FunctionSpec, path: &FieldPath) -> Result<Self, Violation> {
        let function = spec.function;
        let defaults = default_object(function);
        for field in spec.payload.keys() {
            if field == SEED_FIELD {
                return Err(Violation::new(
                    path.key(field),
                    "the schedule assigns every request's seed (from the spec's `seed`); remove it from the grid",
                ));
            }
            if !function.fields().contains(&field.as_str()) {
                let gridable: Vec<&str> = function
                    .fields()
                    .iter()
                    .copied()
                    .filter(|f| *f != SEED_FIELD)
                    .collect();
                return Err(Violation::new(
                    path.key(field),
                    format!(
                        "`{field}` is not a field of /{function}; its fields are {}",
                        gridable.join(", ")
                    ),
                ));
            }
        }
        let mut axes = Vec::new();
        for &field in function.fields() {
            let Some(values) = spec.payload.get(field) else {
                continue;
            };
            let kind = field_kind(&defaults, field);
            let listed = matches!(values, Values::List(_));
            let points = expand(values, kind).map_err(|err| Violation {
                path: path.key(field),
                element: err.element,
                message: err.message,
            })?;
            let mut axis = Vec::with_capacity(points.len());
            for (element, x) in points.into_iter().enumerate() {
                let value = to_json(x, kind);
                let mut alone = defaults.clone();
                alone.insert(field.to_owned(), value.clone());
                if let Some(message) = rejection(function, field, &alone) {
                    return Err(Violation {
                        path: path.key(field),
                        element: listed.then_some(element),
                        message,
                    });
                }
                axis.push(value);
            }
            axes.push((field, axis));
        }
        let grid = Self {
            function,
            defaults,
            axes,
        };
        if grid.checked_len().is_none_or(|len| len > MAX_GRID_POINTS) {
            return Err(Violation::new(
                path.clone(),
                format!("the grid has more than the {MAX_GRID_POINTS} points allowed"),
            ));
        }
        Ok(grid)
    }

    fn checked_len(&self) -> Option<usize> {
        self.axes
            .iter()
            .try_fold(1usize, |len, (_, axis)| len.checked_mul(axis.len()))
    }

    pub(crate) fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// The payload fields at grid point `index` (the last axis varies fastest).
    fn object(&self, mut index: usize, seed: Option<u64>) -> Map<String, Value> {
        let mut object = self.defaults.clone();
        for (field, axis) in self.axes.iter().rev() {
            object.insert((*field).to_owned(), axis[index % axis.len()].clone());
            index /= axis.len();
        }
        object.insert(SEED_FIELD.to_owned(), seed.map_or(Value::Null, Value::from));
        object
    }

    /// The payload at grid point `index < len()`, or why the workload rejects it.
    pub(crate) fn payload(&self, index: usize, seed: Option<u64>) -> Result<Payload, String> {
        let object = self.object(index, seed);
        let payload = serde_json::from_value::<Payload>(Value::Object(object))
            .map_err(|err| err.to_string())?;
        payload.validate().map_err(|err| err.to_string())?;
        Ok(payload)
    }

    /// Every grid point must pass the workload's `validate()` as a whole, not only field by field.
    pub(crate) fn check_points(&self, path: &FieldPath) -> Result<(), Violation> {
        for index in 0..self.len() {
            if let Err(message) = self.payload(index, None) {
                let point: Map<String, Value> = self
                    .object(index, None)
                    .into_iter()
                    .filter(|(field, _)| self.axes.iter().any(|(axis, _)| axis == field))
                    .collect();
                return Err(Violation::new(
                    path.clone(),
                    format!(
                        "/{} rejects grid point {}: {message}",
                        self.function,
                        Value::Object(point)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// JSON Schema rules limiting each function's `payload` keys to its gridable fields.
pub(crate) fn payload_field_rules() -> Value {
    Function::ALL
        .iter()
        .map(|function| {
            let fields: Vec<&str> = function
                .fields()
                .iter()
                .copied()
                .filter(|f| *f != SEED_FIELD)
                .collect();
            serde_json::json!({
                "if": { "properties": { "function": { "const": function.name() } }, "required": ["function"] },
                "then": { "properties": { "payload": { "propertyNames": { "enum": fields } } } }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_range_hits_every_decade_exactly() {
        let values = Values::Log {
            from: 1.0,
            to: 1e8,
            log_steps: 9,
        };
        let points = expand(&values, FieldKind::Integer).ok().unwrap();
        let decades: Vec<f64> = (0..9).map(|i| 10f64.powi(i)).collect();
        assert_eq!(points, decades);
    }

    #[test]
    fn linear_range_includes_its_end_and_rounds_floats() {
        let odd = Values::Linear {
            from: 1.0,
            to: 9.0,
            step: 2.0,
        };
        assert_eq!(
            expand(&odd, FieldKind::Integer).ok().unwrap(),
            [1.0, 3.0, 5.0, 7.0, 9.0]
        );
        let tenths = Values::Linear {
            from: 0.1,
            to: 0.3,
            step: 0.1,
        };
        assert_eq!(
            expand(&tenths, FieldKind::Float).ok().unwrap(),
            [0.1, 0.2, 0.3]
        );
    }

    #[test]
    fn rounding_to_integers_drops_duplicates() {
        let dense = Values::Log {
            from: 1.0,
            to: 4.0,
            log_steps: 7,
        };
        assert_eq!(
            expand(&dense, FieldKind::Integer).ok().unwrap(),
            [1.0, 2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn bad_ranges_and_fractions_are_refused() {
        let fraction = Values::List(vec![1.0, 2.5]);
        assert_eq!(
            expand(&fraction, FieldKind::Integer)
                .err()
                .map(|e| e.element),
            Some(Some(1))
        );
        assert!(expand(&fraction, FieldKind::Float).is_ok());
        let refused = [
            Values::Linear {
                from: 1.0,
                to: 2.0,
                step: 0.0,
            },
            Values::Linear {
                from: 2.0,
                to: 1.0,
                step: 1.0,
            },
            Values::Linear {
                from: 0.0,
                to: 1e12,
                step: 1.0,
            },
            Values::Log {
                from: 0.0,
                to: 1.0,
                log_steps: 3,
            },
            Values::Log {
                from: 1.0,
                to: 10.0,
                log_steps: 1,
            },
        ];
        for values in refused {
            assert!(expand(&values, FieldKind::Integer).is_err(), "{values:?}");
        }
    }

    #[test]
    fn integer_and_float_fields_are_told_apart_by_their_defaults() {
        let video = default_object(Function::Video);
        assert_eq!(field_kind(&video, "profile"), FieldKind::Integer);
        assert_eq!(field_kind(&video, "seconds"), FieldKind::Float);
        assert_eq!(
            field_kind(&default_object(Function::Ml), "input"),
            FieldKind::Integer
        );
    }
}
