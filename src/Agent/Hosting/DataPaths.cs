using Replug.Agent.Ports;

namespace Replug.Agent.Hosting;

public static class DataPaths
{
    /// <summary>The data path a port's configuration names (validated by <see cref="AgentOptions.Validate"/>).</summary>
    public static IDataPath Create(AgentOptions.PortOptions port, string? networkNamespace) => port.DataPath.Kind switch
    {
        "bridge" => new BridgeDataPath(_ => port.DataPath.Bridge, networkNamespace),
        "command" => new CommandDataPath(port.DataPath.Command!, port.DataPath.DeactivateCommand, port.DataPath.Timeout),
        _ => throw new ArgumentException($"port {port.Name}: unknown data path '{port.DataPath.Kind}'"),
    };
}
