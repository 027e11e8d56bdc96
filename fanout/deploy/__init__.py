"""The local deployer: ``template.yaml`` (and any SAM template) created on moto or LocalStack.

One module per concern, as moto gives each service the same rooms:

- ``template``: read and evaluate a template as CloudFormation would (tags,
  parameters, conditions, rules, the SAM transform);
- ``deployer``: create and delete a stack tree on a local endpoint (``deploy``,
  ``delete``), refusing any other endpoint;
- ``moto_gaps``: what moto's CloudFormation does not do, and the fixes;
- ``api_created``: the resources made with API calls instead of CloudFormation;
- ``probes``: intrinsics resolved by the endpoint's CloudFormation for those;
- ``live``: the created resources read back from the endpoint;
- ``models``: the result (``DeployedStack``); ``exceptions``: the errors.
"""
