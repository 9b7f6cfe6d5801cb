//! Atlante: the metropolitan web-GIS platform of the Città Metropolitana di Milano.
//! See `docs/architecture.md` for the map of the modules.

pub mod apps;
pub mod assets;
pub mod auth;
pub mod backgrounds;
pub mod catalog;
pub mod config;
pub mod cql2;
pub mod crs;
pub mod diskcache;
pub mod features;
pub mod fonts;
pub mod gate;
pub mod geom;
pub mod html;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod opendata;
pub mod seed;
pub mod store;
pub mod styles;
pub mod tiles;
