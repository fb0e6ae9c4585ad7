using System.Text.Json;
using Sluice.Collector.Storage;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Export;

/// <summary>The OCSF class an event maps to; also the last token of its stream subject.</summary>
internal enum EventClass
{
    /// <summary>No OCSF class fits: written as an OCSF Base Event with the raw records.</summary>
    Other,
    Process,
    Authentication,
    AccountChange,
    FileSystem,
    Network,
}

/// <summary>
/// Stored events as OCSF JSON (schema 1.8.0): the classes that fit, the raw records always kept.
/// The mapping is documented in the collector's README ("OCSF"); <see cref="OcsfActivity"/> chooses the class,
/// <see cref="OcsfWriter"/> writes the object.
/// </summary>
internal static class OcsfEvent
{
    /// <summary>The OCSF schema version the objects follow (<c>metadata.version</c>).</summary>
    public const string SchemaVersion = "1.8.0";

    /// <summary>The subject token of each class: <c>other</c>, <c>process</c>, <c>authentication</c>, <c>account</c>, <c>file</c>, <c>network</c>.</summary>
    public static string Token(EventClass c) => c switch
    {
        EventClass.Process => "process",
        EventClass.Authentication => "authentication",
        EventClass.AccountChange => "account",
        EventClass.FileSystem => "file",
        EventClass.Network => "network",
        _ => "other",
    };

    /// <summary>The class <paramref name="e"/> maps to.</summary>
    public static EventClass Classify(Event e) => OcsfActivity.Of(e).Class;

    /// <summary>Writes the event as one OCSF JSON object.</summary>
    public static void Write(Utf8JsonWriter writer, StoredEvent stored) => Write(writer, stored, OcsfActivity.Of(stored.Event));

    /// <summary>Writes the event as one OCSF JSON object of <paramref name="activity"/>, already worked out (<see cref="OcsfActivity.Of"/>).</summary>
    public static void Write(Utf8JsonWriter writer, StoredEvent stored, OcsfActivity activity) => OcsfWriter.Write(writer, stored, activity);
}
