using System.Net;
using System.Net.Sockets;
using Replug.Agent.Linux;

namespace Replug.Agent.Tests.Support;

/// <summary>
/// A port's data path between namespaces, to judge forwarding by traffic: a host namespace with
/// bridge <see cref="Bridge"/> holding the VM's end (vm); the port's NIC (<see cref="Nic"/>) in the
/// host, its peer in a "fabric" namespace that sends UDP datagrams to a socket in a "VM" namespace.
/// A datagram arrives only if the bridge forwards it between the NIC and the VM's end. Everything
/// is removed on Dispose, even when construction failed half-way.
/// </summary>
public sealed class BridgedVm : IDisposable
{
    private const int VmPort = 7777;
    private static readonly IPAddress VmAddress = IPAddress.Parse("10.77.0.2");
    private readonly TestNetworkNamespace? _fabric;
    private readonly TestNetworkNamespace? _vm;

    public TestNetworkNamespace Host { get; }
    public string Bridge { get; }
    public string Nic { get; }
    /// <summary>Sends from the fabric (<see cref="SendToVm"/>).</summary>
    public Socket Sender { get; } = null!;
    /// <summary>Receives in the VM.</summary>
    public Socket Receiver { get; } = null!;

    /// <param name="enslaveNic">Whether the NIC starts in the bridge (false: an agent puts it there).</param>
    public BridgedVm(string bridge, string nic, bool enslaveNic, string prefix = "rpb")
    {
        Bridge = bridge;
        Nic = nic;
        Host = new TestNetworkNamespace(prefix + "h");
        try
        {
            _fabric = new TestNetworkNamespace(prefix + "f");
            _vm = new TestNetworkNamespace(prefix + "v");
            Host.Ip($"link add name {bridge} type bridge");
            Host.Ip($"link set dev {bridge} up");
            Host.Ip($"link add {nic} type veth peer name {nic}p netns {_fabric!.Name}");
            Host.Ip($"link add vm type veth peer name vmp netns {_vm!.Name}");
            if (enslaveNic) Host.Ip($"link set dev {nic} master {bridge}");
            Host.Ip($"link set dev {nic} up");
            Host.Ip($"link set dev vm master {bridge}");
            Host.Ip("link set dev vm up");
            _fabric.Ip($"addr add 10.77.0.1/24 dev {nic}p");
            _fabric.Ip($"link set dev {nic}p up");
            _vm.Ip($"addr add {VmAddress}/24 dev vmp");
            _vm.Ip("link set dev vmp up");
            // No ARP: what crosses the bridge is exactly the datagrams sent.
            var vmMac = System.Text.Json.JsonDocument.Parse(_vm.Ip("-j link show dev vmp")).RootElement[0].GetProperty("address").GetString();
            _fabric.Ip($"neigh add {VmAddress} lladdr {vmMac} dev {nic}p nud permanent");
            Sender = NetworkNamespace.Run(_fabric.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
            Receiver = NetworkNamespace.Run(_vm.Name, () =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(VmAddress, VmPort));
                return s;
            });
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public void SendToVm(ReadOnlySpan<byte> datagram) => Sender.SendTo(datagram, SocketFlags.None, new IPEndPoint(VmAddress, VmPort));

    public void Dispose()
    {
        Sender?.Dispose();
        Receiver?.Dispose();
        _vm?.Dispose();
        _fabric?.Dispose();
        Host.Dispose();
    }
}
