"""An HTTPS server with a certificate from an authority made up on the spot,
for tests/tests/tls.rs: which authorities inlet's AWS clients trust.

Prints one JSON line, {"port", "ca_pem"}, then answers every POST the way
an AWS JSON service refuses an unknown action, until stdin closes.
"""
import datetime
import http.server
import ipaddress
import json
import os
import ssl
import sys
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

now = datetime.datetime.now(datetime.timezone.utc)
hour = datetime.timedelta(hours=1)


def certificate(subject, issuer, public_key, signing_key, *extensions):
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - hour)
        .not_valid_after(now + 24 * hour)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


ca_key = ec.generate_private_key(ec.SECP256R1())
ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inlet test authority")])
ca = certificate(
    ca_name,
    ca_name,
    ca_key.public_key(),
    ca_key,
    (x509.BasicConstraints(ca=True, path_length=0), True),
    (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),
)
key = ec.generate_private_key(ec.SECP256R1())
leaf = certificate(
    x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]),
    ca_name,
    key.public_key(),
    ca_key,
    (x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
    (x509.BasicConstraints(ca=False, path_length=None), True),
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
)

directory = tempfile.mkdtemp(prefix="inlet-tls-")  # 0700
cert_file = os.path.join(directory, "server.pem")
key_file = os.path.join(directory, "server.key")
with open(cert_file, "wb") as f:
    f.write(leaf.public_bytes(serialization.Encoding.PEM))
with open(key_file, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({"__type": "InvalidAction", "message": "inlet tls test server"}).encode()
        self.send_response(400)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("x-amzn-errortype", "InvalidAction")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert_file, key_file)
os.remove(key_file)
os.remove(cert_file)
os.rmdir(directory)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.socket = context.wrap_socket(server.socket, server_side=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
print(json.dumps({"port": server.server_address[1], "ca_pem": ca.public_bytes(serialization.Encoding.PEM).decode()}), flush=True)
sys.stdin.read()
