//! The barrier in the plans of a cluster: Ballista's codecs, with [`VisibleRows`] (in the
//! logical plans a client sends its scheduler) and [`VisibleRowsExec`] (in the tasks the
//! scheduler sends its executors) written as markers: the nodes have nothing but their
//! input, which the plan's encoding carries. The scheduler plans the logical node with
//! [`super::exec::BarrierQueryPlanner`]. Its static planner drops the physical node once
//! filters are pushed down ([`super::exec::DropVisibleRows`]); its adaptive planner
//! (Ballista's default) runs physical optimizer rules of its own, so the node stays in
//! the tasks, where it passes its input's rows on.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::{Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::VisibleRows;
use super::exec::VisibleRowsExec;

/// What stands for the barrier in an encoded logical plan.
const MARKER: &[u8] = b"skyql.VisibleRows.1";

/// What stands for the barrier in an encoded physical plan.
const EXEC_MARKER: &[u8] = b"skyql.VisibleRowsExec.1";

/// Ballista's logical codec with the barrier.
#[derive(Debug, Default)]
pub struct BarrierCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for BarrierCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        if buf != MARKER {
            return self.ballista.try_decode(buf, inputs, ctx);
        }
        let [input] = inputs else {
            return datafusion::common::internal_err!("VisibleRows has one input");
        };
        let LogicalPlan::Extension(extension) = VisibleRows::above(input.clone()) else {
            return datafusion::common::internal_err!("VisibleRows is an extension");
        };
        Ok(extension)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        if node.node.as_any().downcast_ref::<VisibleRows>().is_some() {
            buf.extend_from_slice(MARKER);
            return Ok(());
        }
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.ballista
            .try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.ballista
            .try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.ballista.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}

/// Ballista's physical codec with the barrier.
#[derive(Debug, Default)]
pub struct BarrierExecCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for BarrierExecCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if buf != EXEC_MARKER {
            return self.ballista.try_decode(buf, inputs, ctx, proto_converter);
        }
        let [input] = inputs else {
            return datafusion::common::internal_err!("VisibleRowsExec has one input");
        };
        Ok(Arc::new(VisibleRowsExec::new(Arc::clone(input))))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if node.downcast_ref::<VisibleRowsExec>().is_some() {
            buf.extend_from_slice(EXEC_MARKER);
            return Ok(());
        }
        self.ballista.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        self.ballista.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udf(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        self.ballista.try_decode_udaf(name, buf)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udaf(node, buf)
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.ballista.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.ballista.try_encode_udwf(node, buf)
    }
}
