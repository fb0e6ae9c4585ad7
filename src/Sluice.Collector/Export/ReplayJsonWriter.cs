using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using Sluice.Collector.Records;
using Sluice.Protocol.V1;

namespace Sluice.Collector.Export;

/// <summary>Writes one <see cref="Event"/> as one JSON object in the replay format (as <c>sluice-agent replay</c> prints).</summary>
/// <remarks>
/// Byte fields (raw records, argv, paths, exe, ...) are UTF-8 text where they are valid UTF-8.
/// Each byte that is not part of valid UTF-8 (always 0x80..0xFF) is written as the lone surrogate
/// escape <c>\udc80</c>..<c>\udcff</c>, so the exact bytes can be recovered from the JSON.
/// </remarks>
public static class ReplayJsonWriter
{
    public static readonly JsonWriterOptions Options = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = false,
    };

    /// <summary>Writes the event as one object; <paramref name="extra"/> may add properties before it is closed.</summary>
    public static void Write(Utf8JsonWriter w, Event e, Action<Utf8JsonWriter>? extra = null)
    {
        w.WriteStartObject();
        w.WriteNumber("serial", e.Serial);
        w.WriteString("timestamp", e.Timestamp);
        if (e.Node.Length > 0)
        {
            w.WriteString("node", e.Node);
        }
        w.WriteStartArray("records");
        foreach (var r in e.Records)
        {
            w.WriteStartObject();
            w.WriteString("type", RecordTypeNames.Name(r.Type));
            w.WritePropertyName("raw");
            WriteBytes(w, r.Raw);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (e.Syscall.Length > 0) w.WriteString("syscall", e.Syscall);
        if (e.HasSuccess) w.WriteBoolean("success", e.Success);
        if (e.HasExit) w.WriteNumber("exit", e.Exit);
        if (e.HasPid) w.WriteNumber("pid", e.Pid);
        if (e.HasPpid) w.WriteNumber("ppid", e.Ppid);
        if (e.HasUid) w.WriteNumber("uid", e.Uid);
        if (e.HasAuid) w.WriteNumber("auid", e.Auid);
        if (e.HasEuid) w.WriteNumber("euid", e.Euid);
        if (e.HasGid) w.WriteNumber("gid", e.Gid);
        if (e.HasEgid) w.WriteNumber("egid", e.Egid);
        if (e.HasSes) w.WriteNumber("ses", e.Ses);
        if (e.Tty.Length > 0) w.WriteString("tty", e.Tty);
        if (e.Arch.Length > 0) w.WriteString("arch", e.Arch);
        WriteBytesProperty(w, "comm", e.Comm);
        WriteBytesProperty(w, "exe", e.Exe);
        WriteBytesProperty(w, "key", e.Key);
        WriteBytesProperty(w, "cwd", e.Cwd);
        WriteList(w, "argv", e.Argv);
        WriteList(w, "paths", e.Paths);
        WriteList(w, "proctitle", e.Proctitle);
        extra?.Invoke(w);
        w.WriteEndObject();
    }

    private static void WriteBytesProperty(Utf8JsonWriter w, string name, ByteString value)
    {
        if (!value.IsEmpty)
        {
            w.WritePropertyName(name);
            WriteBytes(w, value);
        }
    }

    private static void WriteList(Utf8JsonWriter w, string name, IReadOnlyList<ByteString> values)
    {
        if (values.Count == 0)
        {
            return;
        }
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            WriteBytes(w, v);
        }
        w.WriteEndArray();
    }

    /// <summary>Writes bytes as a JSON string: UTF-8 kept, invalid bytes as \udcXX.</summary>
    private static void WriteBytes(Utf8JsonWriter w, ByteString value)
    {
        var span = value.Span;
        var buffer = ArrayPool<byte>.Shared.Rent(span.Length * 6 + 2);
        try
        {
            int n = Escape(span, buffer);
            // Lone surrogate escapes are legal JSON text but not valid UTF-16, which the writer's own
            // string API refuses; the literal is complete and escaped, so it is written raw.
            w.WriteRawValue(buffer.AsSpan(0, n), skipInputValidation: true);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    internal static int Escape(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        const string hex = "0123456789abcdef";
        int o = 0;
        dst[o++] = (byte)'"';
        while (!src.IsEmpty)
        {
            byte b = src[0];
            if (b < 0x80)
            {
                switch (b)
                {
                    case (byte)'"': dst[o++] = (byte)'\\'; dst[o++] = (byte)'"'; break;
                    case (byte)'\\': dst[o++] = (byte)'\\'; dst[o++] = (byte)'\\'; break;
                    case (byte)'\n': dst[o++] = (byte)'\\'; dst[o++] = (byte)'n'; break;
                    case (byte)'\r': dst[o++] = (byte)'\\'; dst[o++] = (byte)'r'; break;
                    case (byte)'\t': dst[o++] = (byte)'\\'; dst[o++] = (byte)'t'; break;
                    default:
                        if (b < 0x20 || b == 0x7f)
                        {
                            "\\u00"u8.CopyTo(dst[o..]);
                            o += 4;
                            dst[o++] = (byte)hex[b >> 4];
                            dst[o++] = (byte)hex[b & 0xf];
                        }
                        else
                        {
                            dst[o++] = b;
                        }
                        break;
                }
                src = src[1..];
                continue;
            }
            var status = Rune.DecodeFromUtf8(src, out _, out int consumed);
            if (status == OperationStatus.Done)
            {
                src[..consumed].CopyTo(dst[o..]);
                o += consumed;
            }
            else
            {
                // One invalid byte at a time: the next one may start a valid sequence.
                "\\udc"u8.CopyTo(dst[o..]);
                o += 4;
                dst[o++] = (byte)hex[b >> 4];
                dst[o++] = (byte)hex[b & 0xf];
                consumed = 1;
            }
            src = src[consumed..];
        }
        dst[o++] = (byte)'"';
        return o;
    }
}
