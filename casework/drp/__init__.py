"""The Data Rights Protocol 1.0 door (Consumer Reports' Innovation Lab): authorised agents pair
with us, file signed requests, follow and revoke them, and are told when they change. Like the
portal and the API it parses and checks, then calls the intake service and the operations;
the rules live in casework.services.drp and casework.selectors.drp."""
