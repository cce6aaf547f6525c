//! `vantage dag`: the stage graph as text, Graphviz dot or Mermaid.

use crate::DagFormat;
use anyhow::Result;
use std::process::ExitCode;
use vantage_runner::{Pipeline, Source};
use vantage_weights::Store;

pub fn dag(spec: &str, format: DagFormat) -> Result<ExitCode> {
    let registry = vantage_app::registry::registry(&Store::open_default());
    let p = vantage_app::pipelines::load(spec, &registry, &[])?;
    print!(
        "{}",
        match format {
            DagFormat::Text => text(&p),
            DagFormat::Dot => dot(&p),
            DagFormat::Mermaid => mermaid(&p),
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn text(p: &Pipeline) -> String {
    let mut s = format!("pipeline {} ({})\n", p.name, p.path.display());
    for i in &p.inputs {
        s += &format!("  input  {}: {}\n", i.name, i.ty);
    }
    for st in &p.stages {
        s += &format!(
            "  stage  {} [{} v{}]\n",
            st.name,
            st.kind(),
            st.stage.version()
        );
        for (port, src) in &st.inputs {
            s += &format!("           {port} <- {src}\n");
        }
    }
    for (name, src) in &p.outputs {
        s += &format!("  output {name} <- {src}\n");
    }
    s
}

/// A node id both formats accept ('-' is not allowed in them).
fn id(name: &str) -> String {
    name.replace('-', "_")
}

fn node_of(src: &Source) -> String {
    match src {
        Source::Input(name) => format!("input_{}", id(name)),
        Source::Stage { stage, .. } => id(stage),
    }
}

fn port_of(src: &Source) -> String {
    match src {
        Source::Input(_) => String::new(),
        Source::Stage { output, .. } => output.clone(),
    }
}

fn dot(p: &Pipeline) -> String {
    let mut s = format!("digraph \"{}\" {{\n  rankdir=LR;\n", p.name);
    for i in &p.inputs {
        s += &format!(
            "  input_{} [label=\"{}\\n({})\", shape=oval];\n",
            id(&i.name),
            i.name,
            i.ty
        );
    }
    for st in &p.stages {
        s += &format!(
            "  {} [label=\"{}\\n[{}]\", shape=box];\n",
            id(&st.name),
            st.name,
            st.kind()
        );
        for (port, src) in &st.inputs {
            s += &format!(
                "  {} -> {} [label=\"{}→{}\"];\n",
                node_of(src),
                id(&st.name),
                port_of(src),
                port
            );
        }
    }
    for (name, src) in &p.outputs {
        s += &format!(
            "  output_{0} [label=\"{name}\", shape=oval];\n  {1} -> output_{0};\n",
            id(name),
            node_of(src)
        );
    }
    s + "}\n"
}

fn mermaid(p: &Pipeline) -> String {
    let mut s = String::from("flowchart LR\n");
    for i in &p.inputs {
        s += &format!("  input_{}([{}: {}])\n", id(&i.name), i.name, i.ty);
    }
    for st in &p.stages {
        s += &format!("  {}[\"{}<br/>{}\"]\n", id(&st.name), st.name, st.kind());
        for (port, src) in &st.inputs {
            s += &format!("  {} -->|{}| {}\n", node_of(src), port, id(&st.name));
        }
    }
    for (name, src) in &p.outputs {
        s += &format!("  {} --> output_{}(({name}))\n", node_of(src), id(name));
    }
    s
}
