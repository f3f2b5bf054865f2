//! Evaluates the model family on a run directory and prints the evaluation as JSON:
//! `cargo run -p model --example evaluate -- data/reference/sized-sweep [SEED]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: evaluate RUN_DIR [SEED]")?;
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let run = dataset::open_run(&dir)?;
    let options = model::EvalOptions {
        train: model::TrainOptions {
            seed,
            ..Default::default()
        },
        seed,
        ..Default::default()
    };
    let evaluation = model::evaluate(&run, &options)?;
    println!("{}", serde_json::to_string_pretty(&evaluation)?);
    Ok(())
}
