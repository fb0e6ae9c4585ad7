using Microsoft.Extensions.Logging;

namespace Sluice.Agent.Spool;

/// <summary>
/// What the parts of one open spool (<see cref="SpoolRecovery"/>, <see cref="SpoolIndex"/>, <see cref="SpoolWriter"/>)
/// work from: the options, the directory's full path, the largest payload one segment takes, the clock and the log.
/// </summary>
internal sealed record SpoolSettings(SpoolOptions Options, string Directory, int MaxPayload, TimeProvider Time, ILogger Logger);
