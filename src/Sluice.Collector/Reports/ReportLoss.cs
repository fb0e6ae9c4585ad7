using System.Globalization;
using Sluice.Collector.Storage;

namespace Sluice.Collector.Reports;

/// <summary>One loss counter as reports and the dashboard show it.</summary>
/// <param name="Column">Its column in the store (<see cref="LossColumns.Names"/>).</param>
/// <param name="Name">Its name in report tables and JSON: the column's, except spool_dropped (the events, named so since the first report).</param>
/// <param name="Label">For people, in charts and headers.</param>
/// <param name="Unit">"events", "batches", or what else it counts.</param>
/// <param name="InTotal">Its events are part of <see cref="LossTotals.TotalLost"/>.</param>
/// <param name="InBatchesLost">Part of <see cref="LossTotals.BatchesLost"/>.</param>
/// <param name="Loss">Shown as loss: any value above 0 is a loss (<see cref="LossTotals.AnyLoss"/>), or it counts the events of such a kind (quarantine trims).</param>
internal sealed record LossKind(string Column, string Name, string Label, string Unit, bool InTotal, bool InBatchesLost, bool Loss);

/// <summary>
/// The loss kinds in <see cref="LossColumns"/> order, and how each one counts (docs/loss-model.md). Which kinds add up to the total,
/// which are whole batches and which make a host incomplete is read off <see cref="LossTotals"/> itself (one
/// counter at a time), so the report keeps no list of its own.
/// </summary>
internal static class ReportLoss
{
    public static readonly IReadOnlyList<LossKind> Kinds = Build();

    /// <summary>The kinds whose non-zero value makes <see cref="LossTotals.AnyLoss"/> true.</summary>
    public static readonly IReadOnlyList<LossKind> AnyLossKinds = [.. Kinds.Where(k => Alone(k.Column).AnyLoss)];

    /// <summary>The kinds shown in loss rows (per batch, interval, hour): not filtered, parse errors, backlog wait.</summary>
    public static readonly IReadOnlyList<LossKind> Shown = [.. Kinds.Where(k => k.Loss)];

    /// <summary>The kinds whose events make up the total (the stacked bars of the loss charts).</summary>
    public static readonly IReadOnlyList<LossKind> EventKinds = [.. Kinds.Where(k => k.InTotal)];

    /// <summary>SQL: "this batch row reported loss", i.e. <see cref="LossTotals.AnyLoss"/>, without arithmetic that could overflow.</summary>
    public static string AnyLossCondition(string prefix = "") =>
        "(" + string.Join(" OR ", AnyLossKinds.Select(k => $"{prefix}{k.Column} > 0")) + ")";

    /// <summary>Where <paramref name="kind"/> is in <see cref="Kinds"/> and in <see cref="Values"/>.</summary>
    public static int IndexOf(LossKind kind) => Array.IndexOf(LossColumns.Names, kind.Column);

    /// <summary>The value of each kind of <paramref name="loss"/>, in <see cref="Kinds"/> order.</summary>
    public static long[] Values(LossCounts loss) => LossColumns.Values(loss.Totals);

    /// <summary>Short names in verdicts, kept from the first report for the kinds it had.</summary>
    private static string Short(string column) => column switch
    {
        "kernel_lost" => "kernel",
        "socket_overruns" => "overrun",
        "serial_gaps" => "serial gap",
        "spool_dropped_events" => "spool drop",
        "reassembly_evicted" => "evicted",
        _ => column.Replace('_', ' '),
    };

    /// <summary>"kernel 3, overrun 1, quarantined batches 2": the non-zero loss kinds.</summary>
    public static string Describe(LossCounts l)
    {
        var values = Values(l);
        var parts = new List<string>();
        for (int i = 0; i < Kinds.Count; i++)
        {
            if (Kinds[i].Loss && values[i] > 0)
            {
                parts.Add(Short(Kinds[i].Column) + " " + values[i].ToString(CultureInfo.InvariantCulture));
            }
        }
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    private static LossTotals Alone(string column)
    {
        int i = Array.IndexOf(LossColumns.Names, column);
        return LossColumns.Totals(j => j == i ? 1 : 0);
    }

    private static LossKind[] Build()
    {
        var kinds = new LossKind[LossColumns.Names.Length];
        for (int i = 0; i < kinds.Length; i++)
        {
            string column = LossColumns.Names[i];
            var alone = Alone(column);
            string unit = column.EndsWith("_batches", StringComparison.Ordinal) ? "batches"
                : column == "backlog_wait_time_actual" ? "jiffies"
                : column is "truncated" or "parse_errors" ? "records"
                : "events";
            // Quarantine trims are shown beside the other loss, though they add nothing to it (their events are counted as quarantined).
            string twin = column.EndsWith("_events", StringComparison.Ordinal) ? column[..^"_events".Length] + "_batches" : "";
            bool loss = alone.AnyLoss || (Array.IndexOf(LossColumns.Names, twin) >= 0 && Alone(twin).AnyLoss);
            string name = column == "spool_dropped_events" ? "spool_dropped" : column;
            kinds[i] = new LossKind(column, name, name.Replace('_', ' '), unit, alone.TotalLost > 0, alone.BatchesLost > 0, loss);
        }
        return kinds;
    }
}
