using Sluice.Protocol.V1;

namespace Sluice.Collector.Storage;

/// <summary>One event's row of the events table: where its values come from.</summary>
internal readonly struct EventRow
{
    /// <param name="rows">The batch's prepared rows: the events, their text columns in UTF-8, the times they are indexed under.</param>
    /// <param name="ordinal">The event's place in its batch.</param>
    public EventRow(EncodedRows rows, int ordinal, long batchId, long agent)
    {
        Rows = rows;
        Ordinal = ordinal;
        BatchId = batchId;
        Agent = agent;
        Event = rows.Batch.Events[ordinal];
        TimeMs = rows.Times.TimeMs(ordinal, Event);
        TimeAdjusted = rows.Times.IsAdjusted(ordinal);
    }

    private EventRow(Event e)
    {
        Rows = null!;
        Event = e;
    }

    /// <summary>A row of an empty event and no rows, for reading the schema off <see cref="EventColumns.Write"/>: its texts are never read.</summary>
    public static EventRow Empty => new(new Event());

    public EncodedRows Rows { get; }

    public int Ordinal { get; }

    public long BatchId { get; }

    public long Agent { get; }

    public Event Event { get; }

    /// <summary>The time the event is indexed under (<see cref="IndexTimes"/>).</summary>
    public long TimeMs { get; }

    /// <summary>Whether <see cref="TimeMs"/> is the batch's receive time rather than the event's own.</summary>
    public bool TimeAdjusted { get; }
}

/// <summary>
/// What a store does with each column of an events row. <see cref="EventColumns.Write"/> calls it once per column,
/// in table order, with the column's name, its kind and its value.
/// </summary>
/// <remarks>
/// Implemented by structs and called through a type parameter, so that each store's writer compiles to straight-line
/// code, as if written out by hand: no boxing, no virtual or delegate call per value. The name is for the schema;
/// the writers of rows ignore it.
/// </remarks>
internal interface IEventColumnWriter
{
    /// <summary>An integer column that is never NULL.</summary>
    void Int64(string name, long value);

    /// <summary>An integer column: <paramref name="value"/>, or NULL when <paramref name="has"/> is false.</summary>
    void Int64(string name, bool has, long value);

    /// <summary>A boolean column: <paramref name="value"/>, or NULL when <paramref name="has"/> is false.</summary>
    void Bool(string name, bool has, bool value);

    /// <summary>A text column: the UTF-8 that <paramref name="row"/>'s rows hold in <paramref name="slot"/> (<see cref="EncodedRows"/>), or NULL.</summary>
    void Text(string name, in EventRow row, int slot, bool notNull);

    /// <summary>A blob column that is never NULL, written empty.</summary>
    void EmptyBlob(string name);

    /// <summary>A blob column: the bytes <paramref name="row"/>'s rows hold in <paramref name="slot"/>, or NULL.</summary>
    void Blob(string name, in EventRow row, int slot);

    /// <summary>A line of the schema's comment on the next column; nothing to the writers of rows.</summary>
    void Comment(string line);
}

/// <summary>
/// The events table's columns: one call per column, in table order, with how its value is written. The schema
/// (<see cref="Columns"/>: names, types, order), SQLite's insert and bind indexes, and PostgreSQL's COPY column list
/// and binary rows all come from <see cref="Write"/>, so adding a column is one line here (and, for a new text
/// column, its slot in <see cref="EncodedRows"/>), plus its step in <see cref="StoreSchema.Upgrade"/>.
/// </summary>
internal static class EventColumns
{
    /// <summary>Writes <paramref name="r"/>'s columns to <paramref name="c"/>, in table order.</summary>
    public static void Write<T>(ref T c, in EventRow r) where T : struct, IEventColumnWriter, allows ref struct
    {
        var e = r.Event;
        c.Int64("batch_id", r.BatchId);
        c.Int64("ordinal", r.Ordinal);
        c.Int64("agent", r.Agent);
        c.Int64("time_ms", r.TimeMs);
        c.Int64("serial", (long)e.Serial);
        c.Text("node", r, EncodedRows.Node, notNull: false);
        c.Text("first_type", r, EncodedRows.FirstType, notNull: true);
        c.Text("record_types", r, EncodedRows.RecordTypes, notNull: true);
        c.Text("syscall", r, EncodedRows.Syscall, notNull: false);
        c.Bool("success", e.HasSuccess, e.Success);
        c.Int64("exit", e.HasExit, e.Exit);
        c.Int64("pid", e.HasPid, e.Pid);
        c.Int64("ppid", e.HasPpid, e.Ppid);
        c.Int64("uid", e.HasUid, e.Uid);
        c.Int64("auid", e.HasAuid, e.Auid);
        c.Int64("euid", e.HasEuid, e.Euid);
        c.Int64("ses", e.HasSes, e.Ses);
        c.Text("key", r, EncodedRows.Key, notNull: false);
        c.Text("exe", r, EncodedRows.Exe, notNull: false);
        c.Text("comm", r, EncodedRows.Comm, notNull: false);
        c.Text("argv", r, EncodedRows.Argv, notNull: false);
        // Empty since schema 5: the exact copy is in the event's chunk (EventChunks).
        c.EmptyBlob("payload");
        c.Text("paths", r, EncodedRows.Paths, notNull: false);
        c.Comment("True when the event's own time (in its exact copy) was outside the accepted bounds and");
        c.Comment("time_ms is the batch's receive time instead; NULL otherwise.");
        c.Bool("time_adjusted", r.TimeAdjusted, true);
        // Schema 9: the agent's process context (ContextColumns), NULL when the event has none.
        c.Comment("The ProcessContext protobuf bytes as the agent sent them; NULL when unset (and before schema 9).");
        c.Blob("context", r, EncodedRows.Context);
        c.Text("parent_exe", r, EncodedRows.ParentExe, notNull: false);
        bool hasParent = ContextColumns.HasParentPid(e.Context, out long parentPid);
        c.Int64("parent_pid", hasParent, parentPid);
        c.Text("container_id", r, EncodedRows.ContainerId, notNull: false);
        c.Text("container_runtime", r, EncodedRows.ContainerRuntime, notNull: false);
        c.Text("unit", r, EncodedRows.Unit, notNull: false);
        c.Comment("The ancestry, farthest first, as text (ContextColumns.Chain): what the privileged-commands report groups on.");
        c.Text("parent_chain", r, EncodedRows.ParentChain, notNull: false);
    }

    /// <summary>The columns schema 9 added (<see cref="ContextColumns"/>), in table order.</summary>
    public static readonly string[] AddedInVersion9 = ["context", "parent_exe", "parent_pid", "container_id", "container_runtime", "unit", "parent_chain"];

    /// <summary>The columns in table order, read off <see cref="Write"/>.</summary>
    public static readonly Column[] Columns = Describe();

    public static readonly string[] Names = [.. Columns.Select(c => c.Name)];

    public static int Count => Columns.Length;

    public static Column Named(string name) => Columns.Single(c => c.Name == name);

    /// <summary>Runs <see cref="Write"/> with a writer that keeps each column's name and kind instead of a value.</summary>
    private static Column[] Describe()
    {
        var schema = new Schema { List = [], Comments = [] };
        Write(ref schema, EventRow.Empty);
        return [.. schema.List];
    }

    private struct Schema : IEventColumnWriter
    {
        public List<Column> List;
        public List<string> Comments;

        public readonly void Int64(string name, long value) => Add(name, SqlType.Int, notNull: true);

        public readonly void Int64(string name, bool has, long value) => Add(name, SqlType.Int, notNull: false);

        public readonly void Bool(string name, bool has, bool value) => Add(name, SqlType.Bool, notNull: false);

        public readonly void Text(string name, in EventRow row, int slot, bool notNull) => Add(name, SqlType.Text, notNull);

        public readonly void EmptyBlob(string name) => Add(name, SqlType.Blob, notNull: true);

        public readonly void Blob(string name, in EventRow row, int slot) => Add(name, SqlType.Blob, notNull: false);

        public readonly void Comment(string line) => Comments.Add(line);

        private readonly void Add(string name, SqlType type, bool notNull)
        {
            List.Add(new Column(name, type, notNull, Comments: Comments.Count == 0 ? null : [.. Comments]));
            Comments.Clear();
        }
    }
}
